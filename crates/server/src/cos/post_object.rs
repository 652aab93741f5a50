//! COS POST Object: a browser form upload (`POST /` on a bucket, `multipart/form-data`),
//! signed by a policy instead of an `Authorization` header. The form is read by the shared
//! reader ([`crate::form`]), the policy's signature is checked by `hashscan_auth::cos`
//! (`q-sign-algorithm`, `q-ak`, `q-key-time`, `q-signature` over the policy document), its
//! conditions by [`crate::form::check_policy`], and the file goes through the same upload
//! path as a PUT ([`crate::core::objects::ObjectStore::put`]): streamed, hashed while
//! written, committed only when whole.
//!
//! Fields: `key` (required; `${filename}` is replaced by the file's name), `policy` and the
//! four signature fields (required), `Content-Type`, `Cache-Control`, `Content-Disposition`,
//! `Content-Encoding`, `Expires`, `x-cos-meta-*`, `x-cos-tagging`, `acl` (`private` or
//! `default`), `success_action_status` (200, 201 or 204), `success_action_redirect`; the
//! `file` part last. Policy conditions may name any field, `bucket` (the bucket of the
//! request) and `q-sign-time` (the `q-key-time` field), and `content-length-range`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::{Stream, StreamExt};

use super::Ctx;
use super::error::CosError;
use super::headers::{insert, quoted, written};
use crate::core::objects::{NewMeta, StoreError};
use crate::form::{FilePart, Form, FormError, FormLimits, PolicyError, SizeError};

/// Most bytes of the file read and dropped after an error, so that it reaches the client.
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;
/// Largest object of a POST (COS: 5 GB).
const MAX_POST_OBJECT: u64 = 5 << 30;

/// Whether a bucket request is a POST Object: a POST with a form body and no query.
pub fn is_post_object(ctx: &Ctx<'_>) -> bool {
    ctx.method == axum::http::Method::POST
        && ctx.query.is_empty()
        && ctx.header("content-type").is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn bad(code: &'static str, message: impl Into<String>) -> CosError {
    CosError::new(StatusCode::BAD_REQUEST, code, message)
}

impl From<FormError> for CosError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::TooLarge => bad(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size.",
            ),
            FormError::Malformed => bad(
                "MalformedPOSTRequest",
                "The body of your POST request is not well-formed multipart/form-data.",
            ),
            FormError::PreDataTooLarge => bad(
                "MaxPostPreDataLengthExceeded",
                "Your POST request fields preceding the upload file were too large.",
            ),
            other => CosError::invalid_argument(other.to_string()),
        }
    }
}

impl From<PolicyError> for CosError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid(m) => bad("InvalidPolicyDocument", format!("Invalid Policy: {m}")),
            PolicyError::Expired => {
                CosError::access_denied("Invalid according to Policy: Policy expired.")
            }
            PolicyError::ConditionFailed(c) => CosError::access_denied(format!(
                "Invalid according to Policy: Policy Condition failed: {c}"
            )),
        }
    }
}

/// Handles a POST Object on `bucket`.
pub async fn handle(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    // The bucket must exist (and be in the host's region) before the body is read. The
    // request carries no Authorization: its policy's signature is checked before anything is
    // stored, so the bucket is looked up as for a signed write.
    let found = crate::access::usable_bucket(ctx.state, bucket, region, true, false).await?;
    let content_type = ctx.header("content-type").unwrap_or_default().to_string();
    let limits = FormLimits {
        max_file: MAX_POST_OBJECT.min(ctx.state.store.limits().max_object_size),
        ..FormLimits::default()
    };
    let stream = body.take().unwrap_or_default().into_data_stream();
    let (form, mut file) = crate::form::read_form(&content_type, stream, &limits).await?;
    let stored = accept(ctx, &found.name, &form, &mut file).await;
    match stored {
        Ok(r) => Ok(r),
        Err(e) => {
            file.discard(DRAIN_LIMIT).await;
            Err(e)
        }
    }
}

/// A required field, non-empty.
fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, CosError> {
    form.field(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        CosError::invalid_argument(format!(
            "Bucket POST must contain a field named '{name}' before the file."
        ))
    })
}

async fn accept(
    ctx: &Ctx<'_>,
    bucket: &str,
    form: &Form,
    file: &mut FilePart,
) -> Result<Response, CosError> {
    let policy_b64 = required(form, "policy")?;
    let fields = hashscan_auth::cos::PostSignature {
        algorithm: required(form, "q-sign-algorithm")?,
        access_key_id: required(form, "q-ak")?,
        key_time: required(form, "q-key-time")?,
        signature: required(form, "q-signature")?,
    };
    let policy_json = base64::engine::general_purpose::STANDARD
        .decode(policy_b64.trim())
        .map_err(|_| {
            bad(
                "InvalidPolicyDocument",
                "Invalid Policy: Policy is not valid base64.",
            )
        })?;
    let now = crate::wire::now_unix();
    hashscan_auth::cos::verify_post_policy(
        ctx.state.keys.as_ref(),
        &fields,
        &policy_json,
        now,
        &hashscan_auth::cos::Options::default(),
    )?;
    let value = |name: &str| -> Option<String> {
        match name.to_ascii_lowercase().as_str() {
            "bucket" => Some(bucket.to_string()),
            "q-sign-time" => form.field("q-key-time").map(str::to_string),
            _ => form.field(name).map(str::to_string),
        }
    };
    let policy = crate::form::check_policy(&policy_json, &value, &[], now.saturating_mul(1000))?;

    // The key, with `${filename}` as the file's name (its last path segment).
    let file_name = form
        .file_name
        .as_deref()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n))
        .unwrap_or("");
    let key = required(form, "key")?.replace("${filename}", file_name);
    ctx.state.store.validate_key(&key)?;
    super::subresource::no_encryption(form.fields.iter().map(|(name, _)| name.as_str()))?;
    match form
        .field("acl")
        .map(|a| a.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("private" | "default") => {}
        Some(_) => {
            return Err(CosError::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "Objects have no ACL of their own in hashscan: acl may be private or default. Nothing was stored.",
            ));
        }
    }
    let redirect = match form
        .field("success_action_redirect")
        .filter(|r| !r.is_empty())
    {
        Some(url) => Some(super::ci_xml::check_url("success_action_redirect", url)?),
        None => None,
    };
    let meta = form_meta(form)?;

    if let Some(max) = policy.max_size() {
        file.limit(max);
    }
    let stream = AtLeast::new(file, policy);
    let object = match ctx.state.store.put(bucket, &key, meta, stream, None).await {
        Ok(o) => o,
        Err(StoreError::Body(e)) => return Err(body_error(&e)),
        Err(e) => return Err(e.into()),
    };

    let etag = quoted(&object.etag);
    let location = format!("{}/{}", ctx.resource.trim_end_matches('/'), key);
    if let Some(url) = redirect {
        let sep = if url.contains('?') { '&' } else { '?' };
        let enc = |s: &str| super::list_text(s, true);
        let to = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            enc(bucket),
            enc(&key),
            enc(&etag)
        );
        let mut r = StatusCode::SEE_OTHER.into_response();
        insert(r.headers_mut(), header::LOCATION, &to);
        insert(r.headers_mut(), header::ETAG, &etag);
        return Ok(r);
    }
    let mut response = match form.field("success_action_status").map(str::trim) {
        Some("201") => {
            let mut w = crate::xml::XmlWriter::new();
            w.open("PostResponse")
                .leaf("Location", &location)
                .leaf("Bucket", bucket)
                .leaf("Key", &key)
                .leaf("ETag", &etag);
            let mut r = super::xml_ok(w.finish());
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Some("200") => StatusCode::OK.into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    };
    let h = response.headers_mut();
    written(h, &object.etag, object.crc64);
    insert(h, header::LOCATION, &location);
    Ok(response)
}

/// Why the file could not be read: the form's error, or the policy's size bound.
fn body_error(e: &std::io::Error) -> CosError {
    let inner = e.get_ref();
    if let Some(f) = inner.and_then(|i| i.downcast_ref::<FormError>()) {
        return f.clone().into();
    }
    match inner.and_then(|i| i.downcast_ref::<PolicySize>()) {
        Some(PolicySize(SizeError::TooSmall)) => bad(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size.",
        ),
        Some(PolicySize(SizeError::TooLarge)) => bad(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        ),
        None => bad(
            "IncompleteBody",
            "The request body ended before the file did.",
        ),
    }
}

/// The object's metadata from the form's fields, as a PUT takes it from its headers.
fn form_meta(form: &Form) -> Result<NewMeta, CosError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &form.fields {
        let stored = matches!(
            name.as_str(),
            "content-type"
                | "cache-control"
                | "content-disposition"
                | "content-encoding"
                | "expires"
                | "x-cos-tagging"
        ) || name.starts_with("x-cos-meta-");
        if !stored {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            CosError::invalid_argument(format!("{name} is not a valid field name."))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            CosError::invalid_argument(format!("The value of {name} is not valid header text."))
        })?;
        headers.insert(name, value);
    }
    super::headers::upload_meta(&headers)
}

/// The file's chunks, failing at its end when it is smaller than the policy allows: the
/// upload is then not committed.
struct AtLeast<'a> {
    inner: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'a>>,
}

impl<'a> AtLeast<'a> {
    fn new(file: &'a mut FilePart, policy: crate::form::Policy) -> Self {
        let chunks = futures_util::stream::unfold((file, false), move |(file, done)| async move {
            if done {
                return None;
            }
            match file.chunk().await {
                Ok(Some(c)) => Some((Ok(c), (file, false))),
                Ok(None) => match policy.check_size(file.bytes_read()) {
                    Ok(()) => None,
                    Err(SizeError::TooSmall) => Some((Err(too_small()), (file, true))),
                    Err(SizeError::TooLarge) => Some((Err(too_large()), (file, true))),
                },
                Err(e) => Some((Err(std::io::Error::other(e)), (file, true))),
            }
        });
        AtLeast {
            inner: Box::pin(chunks),
        }
    }
}

fn too_small() -> std::io::Error {
    std::io::Error::other(PolicySize(SizeError::TooSmall))
}

fn too_large() -> std::io::Error {
    std::io::Error::other(PolicySize(SizeError::TooLarge))
}

/// A policy's size bound, carried through the upload's I/O error.
#[derive(Debug)]
struct PolicySize(SizeError);

impl std::fmt::Display for PolicySize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            SizeError::TooSmall => f.write_str("smaller than the policy allows"),
            SizeError::TooLarge => f.write_str("larger than the policy allows"),
        }
    }
}

impl std::error::Error for PolicySize {}

impl Stream for AtLeast<'_> {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}
