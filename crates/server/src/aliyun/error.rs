//! Sas errors: the one table of codes, statuses and messages the Alibaba dialect answers with,
//! and the JSON error body the SDKs read (detection-apis.md §1.3–§1.9, §2.6).
//!
//! The API codes and messages are the documented ones, byte for byte. The gateway-level codes
//! (§1.9) are the community-observed ones. Where the spec is silent, the choices are:
//!
//! * a missing parameter is `Missing<Name>` with `<Name> is mandatory for this action.` (the
//!   shape the Alibaba POP gateway uses, e.g. `MissingRegionId`); the name is always one of
//!   ours, never request text. A missing signature is therefore `MissingSignature`;
//! * a parameter with a bad value is `InvalidParameter` with a message naming the parameter and
//!   saying what is wrong; a bad `Type` value is the documented `InvalidApiDetectType`;
//! * credential material that is present but unusable (malformed `Authorization`, a required
//!   header not signed, an unsupported algorithm) is 400 `IncompleteSignature`;
//! * a body that does not hash to `x-acs-content-sha256` is `SignatureDoesNotMatch` with its own
//!   message: the signed request was altered;
//! * an unknown action is 404 `InvalidAction.NotFound` (the status Alibaba answers for an
//!   unknown API), a version other than `2018-12-03` 400 `InvalidVersion`;
//! * the nonce cache being full (see [`crate::meta::shared::NonceCache`]) is 500 `SystemBusy`;
//! * a store that cannot be reached just now (the shared database or blob store is down) is
//!   503 `ServiceUnavailable`, Alibaba's common code for a temporary failure of the server;
//! * `SignatureDoesNotMatch` does not echo the server's string to sign (the real gateway does;
//!   the verifier does not expose it).
//!
//! No message ever carries a secret.

use std::borrow::Cow;
use std::fmt;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hashscan_auth::AuthError;

/// The content type of every Sas JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// A documented error: status, code and fixed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

const fn fixed(status: StatusCode, code: &'static str, message: &'static str) -> Fixed {
    Fixed {
        status,
        code,
        message,
    }
}

use StatusCode as S;

// API errors (§1.3–§1.6).
const REQUEST_TOO_FREQUENTLY: Fixed = fixed(
    S::BAD_REQUEST,
    "RequestTooFrequently",
    "Request too frequently, please try again later",
);
const INVALID_API_DETECT_TYPE: Fixed = fixed(
    S::BAD_REQUEST,
    "InvalidApiDetectType",
    "Unsupported Api Detect Type.",
);
const GET_RESULT_FAIL: Fixed = fixed(
    S::BAD_REQUEST,
    "GetResultFail",
    "Get result fail, found no detect record for this file or result has been expired",
);
const GET_FILE_ERROR: Fixed = fixed(
    S::BAD_REQUEST,
    "GetFileError",
    "Get file error, please check input params and file size, and make sure upload file success.",
);
const INVALID_DOWNLOAD_URL: Fixed = fixed(
    S::BAD_REQUEST,
    "InvalidDownloadUrl",
    "Invalid file download URL.",
);
const FILE_SIZE_OVER_LIMIT: Fixed =
    fixed(S::BAD_REQUEST, "FileSizeOverLimit", "File size over limit.");
const NO_PERMISSION: Fixed = fixed(S::FORBIDDEN, "NoPermission", "caller has no permission");
const SERVER_ERROR: Fixed = fixed(S::INTERNAL_SERVER_ERROR, "ServerError", "ServerError");
const SYSTEM_BUSY: Fixed = fixed(
    S::INTERNAL_SERVER_ERROR,
    "SystemBusy",
    "System busy, please try again later.",
);
const SERVICE_UNAVAILABLE: Fixed = fixed(
    S::SERVICE_UNAVAILABLE,
    "ServiceUnavailable",
    "The request has failed due to a temporary failure of the server.",
);

// Gateway errors (§1.9).
const SIGNATURE_DOES_NOT_MATCH: Fixed = fixed(
    S::BAD_REQUEST,
    "SignatureDoesNotMatch",
    "Specified signature is not matched with our calculation.",
);
const CONTENT_HASH_MISMATCH: Fixed = fixed(
    S::BAD_REQUEST,
    "SignatureDoesNotMatch",
    "The request body does not match the signed x-acs-content-sha256.",
);
const INVALID_ACCESS_KEY_ID_NOT_FOUND: Fixed = fixed(
    S::NOT_FOUND,
    "InvalidAccessKeyId.NotFound",
    "Specified access key is not found.",
);
const INVALID_TIMESTAMP_EXPIRED: Fixed = fixed(
    S::BAD_REQUEST,
    "InvalidTimeStamp.Expired",
    "Specified time stamp or date value is expired.",
);
const SIGNATURE_NONCE_USED: Fixed = fixed(
    S::BAD_REQUEST,
    "SignatureNonceUsed",
    "Specified signature nonce was used already.",
);
const INVALID_ACTION_NOT_FOUND: Fixed = fixed(
    S::NOT_FOUND,
    "InvalidAction.NotFound",
    "Specified api is not found, please check your url and method.",
);
const INVALID_VERSION: Fixed = fixed(
    S::BAD_REQUEST,
    "InvalidVersion",
    "Specified parameter Version is not valid.",
);
const MISSING_SIGNATURE: Fixed = fixed(
    S::BAD_REQUEST,
    "MissingSignature",
    "Signature is mandatory for this action.",
);
const INCOMPLETE_SIGNATURE: Fixed = fixed(
    S::BAD_REQUEST,
    "IncompleteSignature",
    "The request signature does not conform to Aliyun standards.",
);

/// Every fixed-message error, for documentation and tests. The parameterised ones
/// (`Missing<Name>`, `InvalidParameter`, `IncompleteSignature` with a detail) are 400s.
pub const TABLE: [Fixed; 19] = [
    REQUEST_TOO_FREQUENTLY,
    INVALID_API_DETECT_TYPE,
    GET_RESULT_FAIL,
    GET_FILE_ERROR,
    INVALID_DOWNLOAD_URL,
    FILE_SIZE_OVER_LIMIT,
    NO_PERMISSION,
    SERVER_ERROR,
    SYSTEM_BUSY,
    SERVICE_UNAVAILABLE,
    SIGNATURE_DOES_NOT_MATCH,
    CONTENT_HASH_MISMATCH,
    INVALID_ACCESS_KEY_ID_NOT_FOUND,
    INVALID_TIMESTAMP_EXPIRED,
    SIGNATURE_NONCE_USED,
    INVALID_ACTION_NOT_FOUND,
    INVALID_VERSION,
    MISSING_SIGNATURE,
    INCOMPLETE_SIGNATURE,
];

/// A Sas error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
}

impl fmt::Display for SasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for SasError {}

impl From<Fixed> for SasError {
    fn from(f: Fixed) -> Self {
        SasError {
            status: f.status,
            code: Cow::Borrowed(f.code),
            message: f.message.to_owned(),
        }
    }
}

impl SasError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Code` of the body.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The `Message` of the body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 400 `RequestTooFrequently` (the per-key rate limit).
    pub fn request_too_frequently() -> Self {
        REQUEST_TOO_FREQUENTLY.into()
    }

    /// 400 `InvalidApiDetectType` (a `Type` other than 0, 1, 2, 4).
    pub fn invalid_api_detect_type() -> Self {
        INVALID_API_DETECT_TYPE.into()
    }

    /// 400 `GetResultFail`: no record for a hash, or it expired.
    pub fn get_result_fail() -> Self {
        GET_RESULT_FAIL.into()
    }

    /// 400 `GetResultFail` naming the keys that have no record.
    pub fn get_result_fail_for(keys: &[String]) -> Self {
        let mut e = Self::get_result_fail();
        e.message = format!("{} ({})", e.message, keys.join(", "));
        e
    }

    /// 400 `GetFileError`: the uploaded object (`OssKey`) is missing or unusable.
    pub fn get_file_error() -> Self {
        GET_FILE_ERROR.into()
    }

    /// 400 `InvalidDownloadUrl`.
    pub fn invalid_download_url() -> Self {
        INVALID_DOWNLOAD_URL.into()
    }

    /// 400 `FileSizeOverLimit`.
    pub fn file_size_over_limit() -> Self {
        FILE_SIZE_OVER_LIMIT.into()
    }

    /// 403 `NoPermission`.
    pub fn no_permission() -> Self {
        NO_PERMISSION.into()
    }

    /// 500 `ServerError`; log the cause before answering with it.
    pub fn server_error() -> Self {
        SERVER_ERROR.into()
    }

    /// 500 `SystemBusy`.
    pub fn system_busy() -> Self {
        SYSTEM_BUSY.into()
    }

    /// 503 `ServiceUnavailable`: a store cannot be reached just now; the client may try
    /// again. Logged here at warn with its cause (never sent).
    pub fn service_unavailable(cause: &dyn fmt::Display) -> Self {
        tracing::warn!(error = %cause, "a store is unavailable");
        SERVICE_UNAVAILABLE.into()
    }

    /// 400 `SignatureDoesNotMatch`.
    pub fn signature_does_not_match() -> Self {
        SIGNATURE_DOES_NOT_MATCH.into()
    }

    /// 404 `InvalidAccessKeyId.NotFound`.
    pub fn invalid_access_key_id_not_found() -> Self {
        INVALID_ACCESS_KEY_ID_NOT_FOUND.into()
    }

    /// 400 `InvalidTimeStamp.Expired` (too old or too far ahead).
    pub fn invalid_timestamp_expired() -> Self {
        INVALID_TIMESTAMP_EXPIRED.into()
    }

    /// 400 `SignatureNonceUsed`.
    pub fn signature_nonce_used() -> Self {
        SIGNATURE_NONCE_USED.into()
    }

    /// 404 `InvalidAction.NotFound`.
    pub fn invalid_action_not_found() -> Self {
        INVALID_ACTION_NOT_FOUND.into()
    }

    /// 400 `InvalidVersion`.
    pub fn invalid_version() -> Self {
        INVALID_VERSION.into()
    }

    /// 400 `MissingSignature`: the request carries neither an `ACS3-` `Authorization` header
    /// nor a `Signature` parameter.
    pub fn missing_signature() -> Self {
        MISSING_SIGNATURE.into()
    }

    /// 400 `IncompleteSignature`, with what is wrong with the credential material.
    pub fn incomplete_signature(detail: impl fmt::Display) -> Self {
        SasError {
            status: S::BAD_REQUEST,
            code: Cow::Borrowed(INCOMPLETE_SIGNATURE.code),
            message: format!("{} ({detail})", INCOMPLETE_SIGNATURE.message),
        }
    }

    /// 400 `Missing<name>`: `<name> is mandatory for this action.` `name` is a parameter name
    /// of ours (never request text).
    pub fn missing_parameter(name: &str) -> Self {
        SasError {
            status: S::BAD_REQUEST,
            code: Cow::Owned(format!("Missing{name}")),
            message: format!("{name} is mandatory for this action."),
        }
    }

    /// 400 `InvalidParameter`: `The parameter <name> is not valid: <reason>.` Request text may
    /// appear in `name` only after it was matched against a parameter name of ours.
    pub fn invalid_parameter(name: &str, reason: impl fmt::Display) -> Self {
        SasError {
            status: S::BAD_REQUEST,
            code: Cow::Borrowed("InvalidParameter"),
            message: format!("The parameter {name} is not valid: {reason}."),
        }
    }

    /// 400 `InvalidParameter` for a query string that cannot be decoded at all.
    pub fn invalid_query(reason: impl fmt::Display) -> Self {
        SasError {
            status: S::BAD_REQUEST,
            code: Cow::Borrowed("InvalidParameter"),
            message: format!("The query string is not valid: {reason}."),
        }
    }

    /// The error response. `host_id` is the `HostId` of the body: the host the request was
    /// addressed to (its `Host` header), as Alibaba names its endpoint there.
    pub fn response(&self, request_id: &str, host_id: &str) -> Response {
        let body = serde_json::json!({
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
            "Recommend": format!(
                "https://api.aliyun.com/troubleshoot?q={}&product=Sas",
                hashscan_auth::encode::rfc3986(&self.code)
            ),
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-acs-request-id", v);
        }
        response
    }

    /// The wire error for an authentication failure (see the module documentation).
    pub fn from_auth(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Self::missing_signature(),
            AuthError::UnknownAccessKey => Self::invalid_access_key_id_not_found(),
            AuthError::SignatureMismatch => Self::signature_does_not_match(),
            AuthError::ContentHashMismatch => CONTENT_HASH_MISMATCH.into(),
            AuthError::Expired | AuthError::NotYetValid | AuthError::TimeSkewed => {
                Self::invalid_timestamp_expired()
            }
            // Malformed, unsupported algorithm, a header that must be signed and is not, a
            // signed header that is absent, …: every message is free of secrets and of
            // unvalidated request text (see `AuthError`).
            other => Self::incomplete_signature(other),
        }
    }
}

impl From<AuthError> for SasError {
    fn from(e: AuthError) -> Self {
        Self::from_auth(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn renders_the_five_fields_as_json() {
        let r = SasError::get_result_fail().response("rid-1", "tds.aliyuncs.com");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/json;charset=utf-8"
        );
        assert_eq!(r.headers()["x-acs-request-id"], "rid-1");
        let v = body_json(r).await;
        assert_eq!(
            v,
            serde_json::json!({
                "RequestId": "rid-1",
                "HostId": "tds.aliyuncs.com",
                "Code": "GetResultFail",
                "Message": "Get result fail, found no detect record for this file or result has been expired",
                "Recommend": "https://api.aliyun.com/troubleshoot?q=GetResultFail&product=Sas",
            })
        );
        // Field order as documented.
        let text = SasError::get_result_fail().response("r", "h");
        let bytes = axum::body::to_bytes(text.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let pos = |k: &str| text.find(k).unwrap();
        assert!(pos("RequestId") < pos("HostId"));
        assert!(pos("HostId") < pos("\"Code\""));
        assert!(pos("\"Code\"") < pos("\"Message\""));
        assert!(pos("\"Message\"") < pos("Recommend"));
    }

    #[tokio::test]
    async fn dotted_codes_stay_readable_in_recommend() {
        let v = body_json(SasError::invalid_action_not_found().response("r", "h")).await;
        assert_eq!(
            v["Recommend"],
            "https://api.aliyun.com/troubleshoot?q=InvalidAction.NotFound&product=Sas"
        );
    }

    #[test]
    fn documented_statuses_and_messages() {
        let check = |e: SasError, status: u16, code: &str, msg: &str| {
            assert_eq!(e.status().as_u16(), status, "{code}");
            assert_eq!(e.code(), code);
            assert_eq!(e.message(), msg);
        };
        check(
            SasError::request_too_frequently(),
            400,
            "RequestTooFrequently",
            "Request too frequently, please try again later",
        );
        check(
            SasError::invalid_api_detect_type(),
            400,
            "InvalidApiDetectType",
            "Unsupported Api Detect Type.",
        );
        check(
            SasError::get_file_error(),
            400,
            "GetFileError",
            "Get file error, please check input params and file size, and make sure upload file success.",
        );
        check(
            SasError::invalid_download_url(),
            400,
            "InvalidDownloadUrl",
            "Invalid file download URL.",
        );
        check(
            SasError::file_size_over_limit(),
            400,
            "FileSizeOverLimit",
            "File size over limit.",
        );
        check(
            SasError::no_permission(),
            403,
            "NoPermission",
            "caller has no permission",
        );
        check(SasError::server_error(), 500, "ServerError", "ServerError");
        check(
            SasError::system_busy(),
            500,
            "SystemBusy",
            "System busy, please try again later.",
        );
        check(
            SasError::service_unavailable(&"db down"),
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        );
        check(
            SasError::signature_nonce_used(),
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        );
        check(
            SasError::invalid_access_key_id_not_found(),
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        );
        check(
            SasError::invalid_version(),
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        );
        check(
            SasError::missing_parameter("HashKey"),
            400,
            "MissingHashKey",
            "HashKey is mandatory for this action.",
        );
        check(
            SasError::invalid_parameter("PageSize", "must be between 1 and 100"),
            400,
            "InvalidParameter",
            "The parameter PageSize is not valid: must be between 1 and 100.",
        );
        for f in TABLE {
            assert!(f.status.is_client_error() || f.status.is_server_error());
            assert!(!f.message.is_empty());
        }
    }

    #[test]
    fn auth_errors_map_to_gateway_codes() {
        let code = |e: AuthError| {
            let s = SasError::from_auth(e);
            (s.status().as_u16(), s.code().to_owned())
        };
        assert_eq!(code(AuthError::Missing), (400, "MissingSignature".into()));
        assert_eq!(
            code(AuthError::UnknownAccessKey),
            (404, "InvalidAccessKeyId.NotFound".into())
        );
        assert_eq!(
            code(AuthError::SignatureMismatch),
            (400, "SignatureDoesNotMatch".into())
        );
        assert_eq!(
            code(AuthError::ContentHashMismatch),
            (400, "SignatureDoesNotMatch".into())
        );
        for t in [
            AuthError::Expired,
            AuthError::TimeSkewed,
            AuthError::NotYetValid,
        ] {
            assert_eq!(code(t), (400, "InvalidTimeStamp.Expired".into()));
        }
        let e = SasError::from(AuthError::HeaderNotSigned("x-acs-action"));
        assert_eq!(e.code(), "IncompleteSignature");
        assert!(e.message().contains("x-acs-action"), "{}", e.message());
        assert_eq!(
            code(AuthError::Malformed("Signature is not 64 hex digits")),
            (400, "IncompleteSignature".into())
        );
        assert_eq!(
            code(AuthError::UnsupportedAlgorithm),
            (400, "IncompleteSignature".into())
        );
    }
}
