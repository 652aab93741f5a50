//! The headers of COS object requests and answers, shared by the object operations
//! ([`super::objects`]) and multipart upload ([`super::multipart`]): the metadata an upload
//! sets, `Content-MD5`, and how answers carry ETags.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::Ctx;
use super::error::CosError;
use super::parse::parse_content_md5;
use crate::core::objects::NewMeta;

/// Standard headers stored with an object and returned by GET and HEAD.
const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

pub(super) fn tag_error(e: super::tagging_xml::TagError) -> CosError {
    match e {
        super::tagging_xml::TagError::Malformed(m) => CosError::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            format!("The XML you provided was not well-formed: {m}"),
        ),
        dup @ super::tagging_xml::TagError::Duplicate(_) => {
            CosError::new(StatusCode::BAD_REQUEST, "InvalidTag", dup.to_string())
        }
    }
}

/// The metadata a PUT (or a copy with `Replaced`) sets: Content-Type, the stored standard
/// headers and every `x-cos-meta-*` header.
pub(super) fn new_meta(headers: &HeaderMap) -> NewMeta {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    // An empty header is no header (the Node.js SDK sends `Cache-Control:` and
    // `Content-Type:` empty when it has none).
    let mut meta = NewMeta {
        content_type: headers
            .get(header::CONTENT_TYPE)
            .filter(|v| !v.is_empty())
            .map(text),
        ..NewMeta::default()
    };
    for name in STORED_HEADERS {
        if let Some(v) = headers.get(name).filter(|v| !v.is_empty()) {
            meta.headers.insert(name.to_string(), text(v));
        }
    }
    for (name, value) in headers {
        if name.as_str().starts_with("x-cos-meta-") {
            meta.user_meta
                .insert(name.as_str().to_string(), text(value));
        }
    }
    meta
}

/// The metadata of an upload (a PUT, or a multipart upload's initiation): [`new_meta`] and
/// the tags of `x-cos-tagging`.
pub(super) fn upload_meta(headers: &HeaderMap) -> Result<NewMeta, CosError> {
    let mut meta = new_meta(headers);
    if let Some(tagging) = headers.get("x-cos-tagging") {
        let tagging = tagging.to_str().map_err(|_| {
            CosError::new(
                StatusCode::BAD_REQUEST,
                "InvalidTag",
                "x-cos-tagging is not text.",
            )
        })?;
        meta.tags = super::tagging_xml::parse_tagging_header(tagging).map_err(|e| match e {
            super::tagging_xml::TagError::Malformed(m) => {
                CosError::new(StatusCode::BAD_REQUEST, "InvalidTag", m)
            }
            dup => tag_error(dup),
        })?;
    }
    Ok(meta)
}

/// The `Content-MD5` of a request, if it sends one.
pub(super) fn content_md5(ctx: &Ctx<'_>) -> Result<Option<[u8; 16]>, CosError> {
    match ctx.header("content-md5") {
        None => Ok(None),
        Some(v) => Ok(Some(parse_content_md5(v).ok_or_else(|| {
            CosError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDigest",
                "The Content-MD5 you specified is not valid.",
            )
        })?)),
    }
}

pub(super) fn insert(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

pub(super) fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// A write's answer headers: the quoted `ETag` and `x-cos-hash-crc64ecma`.
pub(super) fn written(h: &mut HeaderMap, etag: &str, crc64: u64) {
    insert(h, header::ETAG, &quoted(etag));
    insert(
        h,
        HeaderName::from_static("x-cos-hash-crc64ecma"),
        &crc64.to_string(),
    );
}

/// The source of a copy (`x-cos-copy-source`, `<bucket>.cos.<region>.<domain>/<key>` or
/// `/<bucket>/<key>`) as (bucket, key), once the request may read it (PUT Object - Copy and
/// Upload Part - Copy).
pub(super) async fn copy_source(ctx: &Ctx<'_>) -> Result<(String, String), CosError> {
    let source = ctx.header("x-cos-copy-source").unwrap_or_default();
    let (bucket, region, key) = super::parse::parse_copy_source(source, &ctx.state.config.domains)
        .ok_or_else(|| {
            CosError::invalid_argument(
                "x-cos-copy-source is not <bucket>.cos.<region>.<domain>/<key>",
            )
        })?;
    // The source must be readable by this request too.
    ctx.bucket(&bucket, region.as_deref(), true).await?;
    Ok((bucket, key))
}
