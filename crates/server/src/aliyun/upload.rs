//! The upload host of `CreateFileDetectUploadUrl`: an emulation of OSS PostObject with a V1
//! signature (detection-apis.md §1.2–§1.3), enough for what `alibabacloud-filedetect` sends:
//! `requests.post(PublicUrl, data={key, policy, OSSAccessKeyId, success_action_status,
//! Signature}, files={'file': …})`.
//!
//! * [`issue`] writes the policy and signature a `Context` carries; [`new_oss_key`] names the
//!   object.
//! * [`parse_form`] reads the form fields up to the `file` part with the shared form reader
//!   ([`crate::form`]) and hands that part back as a [`FilePart`] to be streamed, after
//!   [`verify`] accepted the fields (the OSS V1 signature here, the policy document by
//!   [`crate::form::check_policy`]).
//! * Errors are OSS's XML errors ([`OssError`]); success is 204, or 200/201 as
//!   `success_action_status` asks ([`success_response`]).
//!
//! Choices where OSS's documentation leaves room:
//! * form field names are matched case-insensitively, values exactly; a repeated field is
//!   refused (`InvalidArgument`), as is a field after `file`;
//! * `key`, `policy`, `OSSAccessKeyId` and `Signature` are required (no anonymous uploads);
//! * the fields before the file may total [`FormLimits::max_pre_data`] bytes
//!   (`MaxPOSTPreDataLengthExceeded`), at most [`FormLimits::max_fields`] of them;
//! * policy conditions understood: `content-length-range`, `eq` and `starts-with` on `$field`,
//!   `{"field": "value"}` objects (a `bucket` condition always holds: the upload host has one
//!   bucket); anything else is `InvalidPolicyDocument`;
//! * checks run in this order: access key (`InvalidAccessKeyId`), signature (`AccessDenied`),
//!   policy document, expiry, conditions, then the size while the file streams;
//! * the object key's date path is in UTC+8, as in Alibaba's own keys (`1/2022/06/23/15/41/…`
//!   for 07:41 UTC), followed by the Unix milliseconds and a hyphenated UUID.

use std::fmt;

use super::model::UploadUrlContext;
pub use crate::form::{FilePart, FormLimits, Policy};
use crate::form::{FormError, PolicyError, SizeError};
use crate::xml::XmlWriter;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::Stream;
use hashscan_auth::{KeyLookup, Secret};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// An OSS error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl fmt::Display for OssError {
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

impl std::error::Error for OssError {}

impl OssError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// 403 `AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// 403 `AccessDenied` for a wrong signature (OSS's wording).
    pub fn signature_does_not_match() -> Self {
        Self::access_denied(
            "SignatureDoesNotMatch The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    }

    /// 403 `AccessDenied`: the policy's `expiration` has passed.
    pub fn policy_expired() -> Self {
        Self::access_denied("Invalid according to Policy: Policy expired.")
    }

    /// 403 `InvalidAccessKeyId`.
    pub fn invalid_access_key_id() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        )
    }

    /// 400 `InvalidPolicyDocument`.
    pub fn invalid_policy_document(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidPolicyDocument",
            format!("Invalid Policy: {detail}"),
        )
    }

    /// 400 `EntityTooLarge`.
    pub fn entity_too_large() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        )
    }

    /// 400 `EntityTooSmall`.
    pub fn entity_too_small() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size.",
        )
    }

    /// 400 `InvalidArgument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    /// 400 `MalformedPOSTRequest`.
    pub fn malformed_post_request() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    }

    /// 400 `MaxPOSTPreDataLengthExceeded`.
    pub fn max_pre_data_length_exceeded() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MaxPOSTPreDataLengthExceeded",
            "Your POST request fields preceding the upload file were too large.",
        )
    }

    /// 500 `InternalError` (the sink failed); log the cause first.
    pub fn internal_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// 503 `ServiceUnavailable`: a store cannot be reached just now; the client may try
    /// again. Logged here at warn with its cause (never sent).
    pub fn service_unavailable(cause: &dyn fmt::Display) -> Self {
        tracing::warn!(error = %cause, "a store is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please try again later.",
        )
    }

    /// The XML error response; `host_id` is the upload host.
    pub fn response(&self, request_id: &str, host_id: &str) -> Response {
        let mut w = XmlWriter::new();
        w.open("Error")
            .leaf("Code", self.code)
            .leaf("Message", &self.message)
            .leaf("RequestId", request_id)
            .leaf("HostId", host_id);
        let mut response = (self.status, w.finish()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-oss-request-id", v);
        }
        response
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// What `CreateFileDetectUploadUrl` returns for one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadContext {
    /// `Context.AccessId`.
    pub access_id: String,
    /// `Context.OssKey`.
    pub oss_key: String,
    /// `Context.Policy`: base64 of the policy JSON.
    pub policy_b64: String,
    /// `Context.Signature`: base64(HMAC-SHA1(secret, policy_b64)).
    pub signature_b64: String,
    /// `Expire`: the policy's expiry, Unix milliseconds.
    pub expire_ms: i64,
}

impl UploadContext {
    /// The `Context` object of the response.
    pub fn to_model(&self) -> UploadUrlContext {
        UploadUrlContext {
            access_id: self.access_id.clone(),
            policy: self.policy_b64.clone(),
            signature: self.signature_b64.clone(),
            oss_key: self.oss_key.clone(),
        }
    }
}

/// Issues PostObject V1 credentials for uploading at most `max_size` bytes to `key` until
/// `expires_at_ms`: the policy
/// `{"expiration":"<ISO 8601 ms>Z","conditions":[["content-length-range",0,max],["eq","$key",key]]}`
/// signed with the secret of `access_id`.
pub fn issue(
    access_id: &str,
    secret: &Secret,
    key: &str,
    max_size: u64,
    expires_at_ms: i64,
) -> UploadContext {
    let policy = serde_json::json!({
        "expiration": crate::wire::iso8601_ms(expires_at_ms),
        "conditions": [["content-length-range", 0, max_size], ["eq", "$key", key]],
    });
    let policy_b64 = STANDARD.encode(policy.to_string());
    let signature_b64 =
        STANDARD.encode(hmac_sha1(secret.expose().as_bytes(), policy_b64.as_bytes()));
    UploadContext {
        access_id: access_id.to_owned(),
        oss_key: key.to_owned(),
        policy_b64,
        signature_b64,
        expire_ms: expires_at_ms,
    }
}

/// A new object key, `1/YYYY/MM/DD/HH/mm/<unix ms><uuid>` (date path in UTC+8, as Alibaba's).
pub fn new_oss_key(now_ms: i64) -> String {
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let t = utc.to_offset(time::macros::offset!(+8));
    format!(
        "1/{:04}/{:02}/{:02}/{:02}/{:02}/{now_ms}{}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        uuid::Uuid::new_v4().hyphenated()
    )
}

/// The form fields of a PostObject, read up to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    /// `key`: the object key.
    pub key: String,
    /// `policy`: base64 of the policy JSON.
    pub policy: String,
    /// `OSSAccessKeyId`.
    pub access_id: String,
    /// `Signature`.
    pub signature: String,
    /// `success_action_status`, if sent.
    pub success_action_status: Option<String>,
    /// Every field before the file, names in lower case, in order.
    pub fields: Vec<(String, String)>,
    /// The file part's `filename`.
    pub file_name: Option<String>,
}

impl PostForm {
    /// A field by (case-insensitive) name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The success status: 200 or 201 when asked, else 204.
    pub fn success_status(&self) -> StatusCode {
        match self.success_action_status.as_deref().map(str::trim) {
            Some("200") => StatusCode::OK,
            Some("201") => StatusCode::CREATED,
            _ => StatusCode::NO_CONTENT,
        }
    }
}

/// Reads a PostObject body up to its `file` part. `content_type` is the request's
/// `Content-Type` (with the boundary); `body` its byte stream (e.g. `Body::into_data_stream`).
pub async fn parse_form<S, O, E>(
    content_type: &str,
    body: S,
    limits: &FormLimits,
) -> Result<(PostForm, FilePart), OssError>
where
    S: Stream<Item = Result<O, E>> + Send + 'static,
    O: Into<Bytes> + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let (form, file) = crate::form::read_form(content_type, body, limits).await?;
    Ok((build_form(form.fields, form.file_name)?, file))
}

fn build_form(
    fields: Vec<(String, String)>,
    file_name: Option<String>,
) -> Result<PostForm, OssError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let require = |name: &str, shown: &str| {
        get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            OssError::invalid_argument(format!(
                "Bucket POST must contain a field named '{shown}'. If it is specified, please check the order of the fields."
            ))
        })
    };
    Ok(PostForm {
        key: require("key", "key")?,
        policy: require("policy", "policy")?,
        access_id: require("ossaccesskeyid", "OSSAccessKeyId")?,
        signature: require("signature", "Signature")?,
        success_action_status: get("success_action_status"),
        file_name,
        fields,
    })
}

/// Checks a form against the keys and its policy at `now_ms` (Unix milliseconds): the access
/// key is known, the signature is the policy's under its secret (compared in constant time),
/// the policy is well-formed and unexpired and its conditions hold for the form's fields. The
/// size is checked while streaming ([`FilePart::limit`]) and at the end ([`Policy::check_size`]).
pub fn verify(form: &PostForm, keys: &dyn KeyLookup, now_ms: i64) -> Result<Policy, OssError> {
    let secret = keys
        .secret(&form.access_id)
        .ok_or_else(OssError::invalid_access_key_id)?;
    let expected = hmac_sha1(secret.expose().as_bytes(), form.policy.as_bytes());
    let given = STANDARD.decode(form.signature.trim()).unwrap_or_default();
    if given.len() != expected.len() || !bool::from(given.ct_eq(&expected)) {
        return Err(OssError::signature_does_not_match());
    }

    let raw = STANDARD
        .decode(form.policy.trim())
        .map_err(|_| OssError::invalid_policy_document("Policy is not valid base64."))?;
    let value = |name: &str| form.field(name).map(str::to_string);
    // The upload host has one bucket: a `bucket` condition always holds.
    Ok(crate::form::check_policy(
        &raw,
        &value,
        &["bucket"],
        now_ms,
    )?)
}

impl From<FormError> for OssError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::Malformed => Self::malformed_post_request(),
            FormError::TooLarge => Self::entity_too_large(),
            FormError::PreDataTooLarge => Self::max_pre_data_length_exceeded(),
            FormError::NoFile | FormError::FieldAfterFile | FormError::TooManyFields => {
                let message = e.to_string();
                let mut chars = message.chars();
                let message = match chars.next() {
                    Some(c) => c.to_uppercase().chain(chars).collect::<String>() + ".",
                    None => message,
                };
                Self::invalid_argument(message)
            }
            FormError::RepeatedField(name) => {
                Self::invalid_argument(format!("The form field {name} is repeated."))
            }
        }
    }
}

impl From<PolicyError> for OssError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid(m) => Self::invalid_policy_document(m),
            PolicyError::Expired => Self::policy_expired(),
            PolicyError::ConditionFailed(c) => Self::access_denied(format!(
                "Invalid according to Policy: Policy Condition failed: {c}"
            )),
        }
    }
}

impl From<SizeError> for OssError {
    fn from(e: SizeError) -> Self {
        match e {
            SizeError::TooLarge => Self::entity_too_large(),
            SizeError::TooSmall => Self::entity_too_small(),
        }
    }
}

/// The success answer: 204 with no body, 200 with no body, or 201 with OSS's `PostResponse`
/// (`Bucket`, `Location`, `Key`, `ETag`) as `success_action_status` asks.
pub fn success_response(
    form: &PostForm,
    request_id: &str,
    bucket: &str,
    location: &str,
    etag: &str,
) -> Response {
    let status = form.success_status();
    let quoted_etag = format!("\"{}\"", etag.trim_matches('"'));
    let mut response = if status == StatusCode::CREATED {
        let mut w = XmlWriter::new();
        w.open("PostResponse")
            .leaf("Bucket", bucket)
            .leaf("Location", location)
            .leaf("Key", &form.key)
            .leaf("ETag", &quoted_etag);
        let mut r = (status, w.finish()).into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    } else {
        status.into_response()
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-oss-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&quoted_etag) {
        headers.insert(axum::http::header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::Value;
    use tokio::io::{AsyncWrite, AsyncWriteExt};

    use super::*;
    use crate::form::BODY_PIECE;

    /// Copies the whole file to `sink` (flushed); its size.
    async fn write_to<W: AsyncWrite + Unpin>(
        file: &mut FilePart,
        sink: &mut W,
    ) -> Result<u64, OssError> {
        while let Some(bytes) = file.chunk().await? {
            sink.write_all(&bytes)
                .await
                .map_err(|_| OssError::internal_error())?;
        }
        sink.flush().await.map_err(|_| OssError::internal_error())?;
        Ok(file.bytes_read())
    }

    const KEY: &str = "1/2022/06/23/15/41/16559701077444693a0c6-33b2-4cc2-a99f-9f38b8b81234";
    const BOUNDARY: &str = "a8c2f9f1e6b04b1ba0e3a3c4bd1e6e7f";
    const NOW_MS: i64 = 1_655_970_107_744;

    fn keys() -> HashMap<String, Secret> {
        HashMap::from([("testAK".to_owned(), Secret::new("testSecret"))])
    }

    fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    /// A body as Python `requests` builds it: text parts, then the file part.
    fn body(fields: &[(&str, &str)], file: Option<&[u8]>, after: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        let text = |out: &mut Vec<u8>, k: &str, v: &str| {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        };
        for (k, v) in fields {
            text(&mut out, k, v);
        }
        if let Some(file) = file {
            out.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sample.bin\"\r\n\r\n").as_bytes(),
            );
            out.extend_from_slice(file);
            out.extend_from_slice(b"\r\n");
        }
        for (k, v) in after {
            text(&mut out, k, v);
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }

    fn sdk_fields(ctx: &UploadContext) -> Vec<(&'static str, String)> {
        vec![
            ("key", ctx.oss_key.clone()),
            ("policy", ctx.policy_b64.clone()),
            ("OSSAccessKeyId", ctx.access_id.clone()),
            ("success_action_status", "200".to_owned()),
            ("Signature", ctx.signature_b64.clone()),
        ]
    }

    fn ctx(max: u64) -> UploadContext {
        issue(
            "testAK",
            &Secret::new("testSecret"),
            KEY,
            max,
            NOW_MS + 3_600_000,
        )
    }

    fn stream(
        bytes: Vec<u8>,
        chunk: usize,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
            .chunks(chunk.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    }

    /// Parses, verifies and streams the file; returns the file bytes.
    async fn upload(
        bytes: Vec<u8>,
        chunk: usize,
        now_ms: i64,
    ) -> Result<(PostForm, Vec<u8>), OssError> {
        let (form, mut file) = parse_form(
            &content_type(),
            stream(bytes, chunk),
            &FormLimits::default(),
        )
        .await?;
        let policy = verify(&form, &keys(), now_ms)?;
        if let Some(max) = policy.max_size() {
            file.limit(max);
        }
        let mut sink = Vec::new();
        let size = write_to(&mut file, &mut sink).await?;
        policy.check_size(size)?;
        assert_eq!(size, sink.len() as u64);
        Ok((form, sink))
    }

    fn as_pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    #[test]
    fn issue_matches_the_documented_policy_shape() {
        let c = issue(
            "testAK",
            &Secret::new("testSecret"),
            KEY,
            20_971_520,
            1_658_573_890_753,
        );
        let policy = String::from_utf8(STANDARD.decode(&c.policy_b64).unwrap()).unwrap();
        assert_eq!(
            policy,
            format!(
                r#"{{"expiration":"2022-07-23T10:58:10.753Z","conditions":[["content-length-range",0,20971520],["eq","$key","{KEY}"]]}}"#
            )
        );
        // The documented example's policy starts the same way.
        assert!(c.policy_b64.starts_with("eyJleHBpcmF0aW9uIjoiMjAyMi0wNy0yM1QxMDo1ODoxMC43NTNaIiwiY29uZGl0aW9ucyI6W1siY29udGVudC1sZW5ndGgtcmFuZ2UiLDAsMjA5NzE1MjBdLFsiZXEiLCIka2V5IiwiMS8yMDIy"));
        // base64(HMAC-SHA1("testSecret", policy_b64)), computed independently with openssl.
        assert_eq!(c.signature_b64, "JnKT8KOLkyUytEVH/AbTUMnFywQ=");
        assert_eq!(c.expire_ms, 1_658_573_890_753);
        let m = c.to_model();
        assert_eq!((m.access_id.as_str(), m.oss_key.as_str()), ("testAK", KEY));
    }

    #[test]
    fn oss_keys_look_like_alibabas() {
        let k = new_oss_key(NOW_MS);
        assert!(k.starts_with("1/2022/06/23/15/41/1655970107744"), "{k}");
        let uuid = &k["1/2022/06/23/15/41/1655970107744".len()..];
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{uuid}");
        assert_eq!(uuid.len(), 36);
        assert_ne!(new_oss_key(NOW_MS), k);
        // Across midnight in UTC+8.
        assert!(new_oss_key(1_704_038_400_000).starts_with("1/2024/01/01/00/00/"));
    }

    #[tokio::test]
    async fn accepts_what_the_sdk_sends() {
        let c = ctx(20_971_520);
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1, 7, 1000, usize::MAX] {
            let (form, got) = upload(
                body(&as_pairs(&sdk_fields(&c)), Some(&data), &[]),
                chunk,
                NOW_MS,
            )
            .await
            .unwrap();
            assert_eq!(got, data, "chunk {chunk}");
            assert_eq!(form.key, KEY);
            assert_eq!(form.access_id, "testAK");
            assert_eq!(form.file_name.as_deref(), Some("sample.bin"));
            assert_eq!(form.success_status(), StatusCode::OK);
        }
        // A file of the exact maximum size, and an empty file.
        let c = ctx(5);
        assert!(
            upload(
                body(&as_pairs(&sdk_fields(&c)), Some(b"12345"), &[]),
                3,
                NOW_MS
            )
            .await
            .is_ok()
        );
        let (_, got) = upload(body(&as_pairs(&sdk_fields(&c)), Some(b""), &[]), 3, NOW_MS)
            .await
            .unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn field_names_are_case_insensitive() {
        let c = ctx(100);
        let fields = [
            ("Key", c.oss_key.as_str()),
            ("Policy", c.policy_b64.as_str()),
            ("ossaccesskeyid", c.access_id.as_str()),
            ("signature", c.signature_b64.as_str()),
        ];
        let (form, _) = upload(body(&fields, Some(b"x"), &[]), 64, NOW_MS)
            .await
            .unwrap();
        assert_eq!(form.success_status(), StatusCode::NO_CONTENT);
    }

    async fn refused(bytes: Vec<u8>, now_ms: i64) -> (u16, &'static str, String) {
        let e = upload(bytes, 16, now_ms).await.unwrap_err();
        (e.status().as_u16(), e.code(), e.message().to_owned())
    }

    #[tokio::test]
    async fn refuses_an_expired_policy() {
        let c = ctx(100);
        let (status, code, msg) = refused(
            body(&as_pairs(&sdk_fields(&c)), Some(b"x"), &[]),
            c.expire_ms + 1,
        )
        .await;
        assert_eq!((status, code), (403, "AccessDenied"));
        assert_eq!(msg, "Invalid according to Policy: Policy expired.");
        // The last millisecond is still fine.
        assert!(
            upload(
                body(&as_pairs(&sdk_fields(&c)), Some(b"x"), &[]),
                16,
                c.expire_ms
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn refuses_a_wrong_signature_and_unknown_key() {
        let c = ctx(100);
        let mut f = sdk_fields(&c);
        f[4].1 = issue(
            "testAK",
            &Secret::new("otherSecret"),
            KEY,
            100,
            NOW_MS + 3_600_000,
        )
        .signature_b64;
        let (status, code, msg) = refused(body(&as_pairs(&f), Some(b"x"), &[]), NOW_MS).await;
        assert_eq!((status, code), (403, "AccessDenied"));
        assert!(msg.starts_with("SignatureDoesNotMatch"));
        // Not base64, or the wrong length.
        for bad in ["!!!", "AAAA"] {
            let mut f = sdk_fields(&c);
            f[4].1 = bad.into();
            assert_eq!(
                refused(body(&as_pairs(&f), Some(b"x"), &[]), NOW_MS)
                    .await
                    .1,
                "AccessDenied"
            );
        }
        // A policy changed after signing.
        let mut f = sdk_fields(&c);
        f[1].1 = ctx(1_000_000).policy_b64;
        assert_eq!(
            refused(body(&as_pairs(&f), Some(b"x"), &[]), NOW_MS)
                .await
                .1,
            "AccessDenied"
        );
        let mut f = sdk_fields(&c);
        f[2].1 = "nobody".into();
        assert_eq!(
            refused(body(&as_pairs(&f), Some(b"x"), &[]), NOW_MS).await,
            (
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.".into()
            )
        );
    }

    #[tokio::test]
    async fn refuses_a_key_other_than_the_policys() {
        let c = ctx(100);
        let mut f = sdk_fields(&c);
        f[0].1 = "1/2022/06/23/15/41/other".into();
        let (status, code, msg) = refused(body(&as_pairs(&f), Some(b"x"), &[]), NOW_MS).await;
        assert_eq!((status, code), (403, "AccessDenied"));
        assert!(msg.contains("Policy Condition failed"), "{msg}");
        assert!(msg.contains("$key"), "{msg}");
    }

    #[tokio::test]
    async fn refuses_a_file_over_the_range_while_streaming() {
        let c = ctx(10);
        let (status, code, _) = refused(
            body(&as_pairs(&sdk_fields(&c)), Some(&[7u8; 11]), &[]),
            NOW_MS,
        )
        .await;
        assert_eq!((status, code), (400, "EntityTooLarge"));
        // The stream stops at the limit: a huge body is never read whole.
        let (form, mut file) = parse_form(
            &content_type(),
            stream(
                body(&as_pairs(&sdk_fields(&c)), Some(&vec![0u8; 4 << 20]), &[]),
                1 << 20,
            ),
            &FormLimits::default(),
        )
        .await
        .unwrap();
        let policy = verify(&form, &keys(), NOW_MS).unwrap();
        file.limit(policy.max_size().unwrap());
        let e = write_to(&mut file, &mut tokio::io::sink())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "EntityTooLarge");
        // Stopped at the first piece past the limit, not at the end of the 4 MiB.
        assert!(
            file.bytes_read() <= 64 * BODY_PIECE as u64,
            "{}",
            file.bytes_read()
        );
        // The server's own cap applies whatever the policy says.
        let big = ctx(u64::MAX);
        let limits = FormLimits {
            max_file: 100,
            ..FormLimits::default()
        };
        let (_, mut file) = parse_form(
            &content_type(),
            stream(
                body(&as_pairs(&sdk_fields(&big)), Some(&[1u8; 101]), &[]),
                64,
            ),
            &limits,
        )
        .await
        .unwrap();
        assert_eq!(
            write_to(&mut file, &mut tokio::io::sink())
                .await
                .unwrap_err()
                .code(),
            "EntityTooLarge"
        );
    }

    #[tokio::test]
    async fn refuses_a_file_under_the_range() {
        let c = issue_with(&[["content-length-range".into(), 5.into(), 10.into()]]);
        let (status, code, _) =
            refused(body(&as_pairs(&sdk_fields(&c)), Some(b"1234"), &[]), NOW_MS).await;
        assert_eq!((status, code), (400, "EntityTooSmall"));
    }

    /// Credentials for a policy with `conditions` (plus the key condition).
    fn issue_with(conditions: &[[Value; 3]]) -> UploadContext {
        let mut all: Vec<Value> = conditions
            .iter()
            .map(|c| Value::Array(c.to_vec()))
            .collect();
        all.push(serde_json::json!(["eq", "$key", KEY]));
        policy_ctx(serde_json::json!({"expiration": "2022-07-23T10:58:10.753Z", "conditions": all}))
    }

    fn policy_ctx(doc: Value) -> UploadContext {
        let policy_b64 = STANDARD.encode(doc.to_string());
        let signature_b64 = STANDARD.encode(hmac_sha1(b"testSecret", policy_b64.as_bytes()));
        UploadContext {
            access_id: "testAK".into(),
            oss_key: KEY.into(),
            policy_b64,
            signature_b64,
            expire_ms: 0,
        }
    }

    #[tokio::test]
    async fn policy_documents() {
        let run = |doc: Value| async move {
            let c = policy_ctx(doc);
            upload(
                body(&as_pairs(&sdk_fields(&c)), Some(b"x"), &[]),
                64,
                NOW_MS,
            )
            .await
        };
        // Other condition forms hold or fail as OSS evaluates them.
        assert!(run(serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [
            {"bucket": "any"}, ["starts-with", "$key", "1/2022/"], {"key": KEY}, ["eq", "$bucket", "x"],
            ["eq", "$success_action_status", "200"]
        ]})).await.is_ok());
        for (doc, code) in [
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [["starts-with", "$key", "2/"]]}),
                "AccessDenied",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [{"key": "other"}]}),
                "AccessDenied",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [["eq", "$x-oss-meta-a", "b"]]}),
                "AccessDenied",
            ),
            (
                serde_json::json!({"conditions": []}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "tomorrow", "conditions": []}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z"}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [["in", "$key", "a"]]}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [["eq", "key", KEY]]}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [["content-length-range", 5, 1]]}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [["content-length-range", -1, 1]]}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [{"a": "1", "b": "2"}]}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2022-07-23T10:58:10Z", "conditions": [42]}),
                "InvalidPolicyDocument",
            ),
            (
                serde_json::json!({"expiration": "2020-07-23T10:58:10Z", "conditions": []}),
                "AccessDenied",
            ),
        ] {
            let e = run(doc.clone()).await.unwrap_err();
            assert_eq!(e.code(), code, "{doc}");
        }
        // Signed garbage.
        let mut c = policy_ctx(Value::Null);
        c.policy_b64 = STANDARD.encode("not json");
        c.signature_b64 = STANDARD.encode(hmac_sha1(b"testSecret", c.policy_b64.as_bytes()));
        let e = upload(
            body(&as_pairs(&sdk_fields(&c)), Some(b"x"), &[]),
            64,
            NOW_MS,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), "InvalidPolicyDocument");
    }

    #[tokio::test]
    async fn refuses_a_field_after_the_file() {
        let c = ctx(100);
        let f = sdk_fields(&c);
        let pairs = as_pairs(&f);
        // Signature after the file: the form is incomplete when the file starts.
        let (status, code, msg) = refused(body(&pairs[..4], Some(b"x"), &pairs[4..]), NOW_MS).await;
        assert_eq!((status, code), (400, "InvalidArgument"));
        assert!(msg.contains("'Signature'"), "{msg}");
        // Everything before the file, but one more field after it.
        let (status, code, msg) =
            refused(body(&pairs, Some(b"x"), &[("x-oss-meta-a", "b")]), NOW_MS).await;
        assert_eq!((status, code), (400, "InvalidArgument"));
        assert!(msg.contains("last field"), "{msg}");
    }

    #[tokio::test]
    async fn refuses_missing_fields() {
        let c = ctx(100);
        let f = sdk_fields(&c);
        for (i, shown) in [
            (0, "'key'"),
            (1, "'policy'"),
            (2, "'OSSAccessKeyId'"),
            (4, "'Signature'"),
        ] {
            let mut pairs = as_pairs(&f);
            pairs.remove(i);
            let (status, code, msg) = refused(body(&pairs, Some(b"x"), &[]), NOW_MS).await;
            assert_eq!((status, code), (400, "InvalidArgument"), "{shown}");
            assert!(msg.contains(shown), "{msg}");
        }
        // An empty value is missing too.
        let mut pairs = as_pairs(&f);
        pairs[0].1 = "";
        assert_eq!(
            refused(body(&pairs, Some(b"x"), &[]), NOW_MS).await.1,
            "InvalidArgument"
        );
        // No file at all.
        let (status, code, msg) = refused(body(&as_pairs(&f), None, &[]), NOW_MS).await;
        assert_eq!((status, code), (400, "InvalidArgument"));
        assert!(msg.contains("file"), "{msg}");
        // A repeated field.
        let mut pairs = as_pairs(&f);
        pairs.push(("KEY", KEY));
        assert_eq!(
            refused(body(&pairs, Some(b"x"), &[]), NOW_MS).await.1,
            "InvalidArgument"
        );
    }

    #[tokio::test]
    async fn refuses_truncated_and_malformed_bodies() {
        let c = ctx(100_000);
        let data = vec![b'z'; 50_000];
        let full = body(&as_pairs(&sdk_fields(&c)), Some(&data), &[]);
        // Cut inside the file, inside the fields, and just before the closing boundary.
        for cut in [
            full.len() - 30_000,
            200,
            full.len() - 4,
            full.len() - 5,
            full.len() - BOUNDARY.len() - 6,
        ] {
            let (status, code, _) = refused(full[..cut].to_vec(), NOW_MS).await;
            assert_eq!(
                (status, code),
                (400, "MalformedPOSTRequest"),
                "cut at {cut}"
            );
        }
        // A body stream that fails (client gone).
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::copy_from_slice(&full[..1000])),
            Err(std::io::Error::other("reset")),
        ]);
        let r = async {
            let (form, mut file) =
                parse_form(&content_type(), failing, &FormLimits::default()).await?;
            verify(&form, &keys(), NOW_MS)?;
            write_to(&mut file, &mut tokio::io::sink()).await
        }
        .await;
        assert_eq!(r.unwrap_err().code(), "MalformedPOSTRequest");
        // Not multipart, no boundary, garbage.
        for ct in [
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "",
            "multipart/mixed; boundary=x",
        ] {
            let e = parse_form(ct, stream(full.clone(), 64), &FormLimits::default())
                .await
                .unwrap_err();
            assert_eq!(e.code(), "MalformedPOSTRequest", "{ct}");
        }
        let e = parse_form(
            &content_type(),
            stream(b"garbage".to_vec(), 64),
            &FormLimits::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), "MalformedPOSTRequest");
        // A field value that is not UTF-8.
        let mut bad = body(&[("key", "XX")], Some(b"x"), &[]);
        let at = bad.windows(6).position(|w| w == b"\r\n\r\nXX").unwrap() + 4;
        bad[at] = 0xff;
        let e = parse_form(&content_type(), stream(bad, 64), &FormLimits::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "MalformedPOSTRequest");
    }

    #[tokio::test]
    async fn bounds_the_fields_before_the_file() {
        let c = ctx(100);
        let mut f = sdk_fields(&c);
        f.push(("x-oss-meta-big", "a".repeat(70_000)));
        let (status, code, _) = refused(body(&as_pairs(&f), Some(b"x"), &[]), NOW_MS).await;
        assert_eq!((status, code), (400, "MaxPOSTPreDataLengthExceeded"));
        let names: Vec<String> = (0..70).map(|i| format!("x-oss-meta-{i}")).collect();
        let base = sdk_fields(&c);
        let mut pairs: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend(names.iter().map(|n| (n.as_str(), "v")));
        let (status, code, msg) = refused(body(&pairs, Some(b"x"), &[]), NOW_MS).await;
        assert_eq!((status, code), (400, "InvalidArgument"));
        assert!(msg.contains("Too many"), "{msg}");
    }

    #[tokio::test]
    async fn streams_a_large_file_without_buffering_it() {
        // 32 MiB generated lazily, copied to a counting sink in 64 KiB chunks.
        const SIZE: usize = 32 << 20;
        let c = ctx(SIZE as u64);
        let mut head = Vec::new();
        for (k, v) in sdk_fields(&c) {
            head.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        head.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n").as_bytes(),
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n").into_bytes();
        let chunk = Bytes::from(vec![b'q'; 64 << 10]);
        let parts = std::iter::once(Bytes::from(head))
            .chain(std::iter::repeat_n(chunk, SIZE / (64 << 10)))
            .chain(std::iter::once(Bytes::from(tail)))
            .map(Ok::<_, std::io::Error>);
        let (form, mut file) = parse_form(
            &content_type(),
            futures_util::stream::iter(parts),
            &FormLimits::default(),
        )
        .await
        .unwrap();
        let policy = verify(&form, &keys(), NOW_MS).unwrap();
        file.limit(policy.max_size().unwrap());
        let mut sizes = Vec::new();
        while let Some(b) = file.chunk().await.unwrap() {
            sizes.push(b.len());
        }
        let total: usize = sizes.iter().sum();
        assert_eq!(total, SIZE);
        policy.check_size(total as u64).unwrap();
        // The first chunk holds what multer buffered while reading the fields (a few pieces per
        // field); every later chunk is one piece.
        assert!(sizes[0] <= 32 * BODY_PIECE, "first chunk {}", sizes[0]);
        assert!(
            sizes[1..].iter().all(|&n| n <= BODY_PIECE),
            "{:?}",
            sizes.iter().max()
        );
    }

    #[tokio::test]
    async fn responses() {
        let e = OssError::policy_expired().response("rid", "upload.example");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.headers()["content-type"], "application/xml");
        assert_eq!(e.headers()["x-oss-request-id"], "rid");
        let text = axum::body::to_bytes(e.into_body(), 4096).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message><RequestId>rid</RequestId><HostId>upload.example</HostId></Error>"
        );
        assert_eq!(
            OssError::malformed_post_request().message(),
            "The body of your POST request is not well-formed multipart/form-data."
        );

        let mut form = PostForm {
            key: KEY.into(),
            policy: String::new(),
            access_id: String::new(),
            signature: String::new(),
            success_action_status: None,
            fields: vec![],
            file_name: None,
        };
        let r = success_response(&form, "rid", "b", "http://h/k", "abc");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["etag"], "\"abc\"");
        form.success_action_status = Some("200".into());
        assert_eq!(
            success_response(&form, "rid", "b", "l", "abc").status(),
            StatusCode::OK
        );
        form.success_action_status = Some("404".into());
        assert_eq!(
            success_response(&form, "rid", "b", "l", "abc").status(),
            StatusCode::NO_CONTENT
        );
        form.success_action_status = Some("201".into());
        let r = success_response(&form, "rid", "b", "http://h/k", "\"abc\"");
        assert_eq!(r.status(), StatusCode::CREATED);
        let text = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let text = std::str::from_utf8(&text).unwrap();
        assert!(text.contains(&format!("<Key>{KEY}</Key>")), "{text}");
        assert!(
            text.contains("<ETag>&quot;abc&quot;</ETag>") || text.contains("<ETag>\"abc\"</ETag>"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn discard_reads_the_rest_of_the_body_within_its_budget() {
        use futures_util::StreamExt;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let ctx = ctx(1 << 30);
        let fields = sdk_fields(&ctx);
        let file = vec![7u8; 1 << 20];
        let bytes = body(&as_pairs(&fields), Some(&file), &[]);
        let total = bytes.len();
        for (budget, whole) in [(u64::MAX, true), (64 * 1024, false)] {
            let read = Arc::new(AtomicUsize::new(0));
            let counted = {
                let read = read.clone();
                stream(bytes.clone(), 16 * 1024).inspect(move |c| {
                    if let Ok(c) = c {
                        read.fetch_add(c.len(), Ordering::Relaxed);
                    }
                })
            };
            let (_, mut part) = parse_form(&content_type(), counted, &FormLimits::default())
                .await
                .unwrap();
            // An error in the middle of the file: the rest is still unread.
            part.limit(100);
            assert_eq!(
                OssError::from(part.chunk().await.unwrap_err()).code(),
                "EntityTooLarge"
            );
            assert!(read.load(Ordering::Relaxed) < total);
            part.discard(budget).await;
            let after = read.load(Ordering::Relaxed);
            if whole {
                assert_eq!(after, total, "the whole body was read");
            } else {
                assert!(after < total, "{after} of {total}: the budget was kept");
            }
        }
    }
}
