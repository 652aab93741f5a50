//! COS object operations: PUT (and PUT - Copy), GET with Range, HEAD, DELETE.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::Ctx;
use super::error::CosError;
use super::headers::{content_md5, insert, new_meta, quoted, tag_error, upload_meta, written};
use super::parse::{RangeSpec, parse_conditions, parse_range};
use super::subresource;
use crate::core::objects::{ConditionFailed, MetadataDirective, ObjectMeta};
use crate::wire::{http_date, iso8601_ms};
use crate::xml::XmlWriter;

pub async fn object(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let read_only = ctx.method == Method::GET || ctx.method == Method::HEAD;
    let found = ctx.bucket(bucket, region, read_only).await?;
    // Overriding the response headers (say, serving an upload as text/html) is for whoever
    // signed the URL, not for anyone who holds it or reads a public bucket.
    subresource::require_signed(
        ctx.signature.as_ref(),
        &ctx.query,
        subresource::RESPONSE_OVERRIDES,
    )?;
    ctx.state.store.validate_key(key)?;
    if let Some(process) = ctx.param("ci-process") {
        return match (process, &ctx.method) {
            ("filehash", &Method::GET) => {
                // Writing the digest into the metadata is a write: whoever may only read
                // (anonymously, or with a presigned GET made for something else) must not
                // be able to add it.
                if ctx.param("addtoheader").and_then(super::ci::parse_bool) != Some(false)
                    && ctx.has_param("addtoheader")
                {
                    subresource::require_signed(
                        ctx.signature.as_ref(),
                        &ctx.query,
                        &["ci-process", "type", "addtoheader"],
                    )?;
                }
                super::ci::filehash(ctx, bucket, &found.region, key).await
            }
            ("filehash", _) => Err(CosError::method_not_allowed()),
            _ => Err(CosError::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!("ci-process={process} is not supported by hashscan"),
            )),
        };
    }
    if ctx.method == Method::PUT || ctx.method == Method::POST {
        subresource::no_encryption(ctx.headers.keys().map(|n| n.as_str()))?;
        // Objects have no ACL of their own: they follow their bucket.
        match subresource::canned_acl(&ctx.headers)? {
            None | Some(subresource::CannedAcl::Private) => {}
            Some(subresource::CannedAcl::PublicRead) => {
                return Err(CosError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    "Objects have no ACL of their own in hashscan: they follow their bucket (create it public-read instead). Nothing was stored.",
                ));
            }
        }
    }
    if ctx.has_param("tagging") {
        return tagging(ctx, bucket, key, body).await;
    }
    if super::multipart::is_multipart(ctx) {
        return super::multipart::handle(ctx, bucket, key, body).await;
    }
    match ctx.method {
        Method::PUT if ctx.header("x-cos-copy-source").is_some() => copy(ctx, bucket, key).await,
        Method::PUT => put(ctx, bucket, key, body).await,
        Method::GET => get(ctx, bucket, key, false).await,
        Method::HEAD => get(ctx, bucket, key, true).await,
        Method::DELETE => {
            ctx.state.store.delete(bucket, key).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(CosError::method_not_allowed()),
    }
}

/// PUT, GET and DELETE Object tagging (`?tagging`).
async fn tagging(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let store = &ctx.state.store;
    match ctx.method {
        Method::GET => {
            let tags = store.tags(bucket, key).await?;
            let mut w = XmlWriter::new();
            w.open("Tagging").open("TagSet");
            for (k, v) in &tags {
                w.open("Tag").leaf("Key", k).leaf("Value", v).close();
            }
            w.close();
            Ok(super::xml_ok(w.finish()))
        }
        Method::PUT => {
            let limit = super::tagging_xml::MAX_BODY;
            let bytes = axum::body::to_bytes(body.take().unwrap_or_default(), limit + 1)
                .await
                .map_err(|_| {
                    tag_error(super::tagging_xml::TagError::Malformed(format!(
                        "The body is larger than {limit} bytes or was cut off."
                    )))
                })?;
            let tags = super::tagging_xml::parse_tagging(&bytes).map_err(tag_error)?;
            store.set_tags(bucket, key, &tags).await?;
            Ok(StatusCode::OK.into_response())
        }
        Method::DELETE => {
            store.set_tags(bucket, key, &BTreeMap::new()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(CosError::method_not_allowed()),
    }
}

async fn put(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let limit = ctx.state.store.limits().max_object_size;
    if let Some(len) = ctx.header("content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| CosError::invalid_argument("Content-Length is not a number"))?;
        if len > limit {
            return Err(crate::core::objects::StoreError::EntityTooLarge { limit }.into());
        }
    }
    let content_md5 = content_md5(ctx)?;
    let meta = upload_meta(&ctx.headers)?;
    let stream = body
        .take()
        .unwrap_or_default()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let object = ctx
        .state
        .store
        .put(bucket, key, meta, stream, content_md5)
        .await?;
    let mut response = StatusCode::OK.into_response();
    written(response.headers_mut(), &object.etag, object.crc64);
    Ok(response)
}

async fn copy(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, CosError> {
    let (src_bucket, src_key) = super::headers::copy_source(ctx).await?;
    let directive = match ctx.header("x-cos-metadata-directive") {
        None => MetadataDirective::Copy,
        Some(d) if d.eq_ignore_ascii_case("copy") => MetadataDirective::Copy,
        Some(d) if d.eq_ignore_ascii_case("replaced") => {
            MetadataDirective::Replace(new_meta(&ctx.headers))
        }
        Some(_) => {
            return Err(CosError::invalid_argument(
                "x-cos-metadata-directive must be Copy or Replaced",
            ));
        }
    };
    let conditions = parse_conditions(|n| ctx.header(n), "x-cos-copy-source-");
    let object = ctx
        .state
        .store
        .copy(&src_bucket, &src_key, bucket, key, directive, &conditions)
        .await?;
    let mut w = XmlWriter::new();
    w.open("CopyObjectResult")
        .leaf("ETag", &quoted(&object.etag))
        .leaf("CRC64", &object.crc64.to_string())
        .leaf("LastModified", &iso8601_ms(object.last_modified));
    let mut response = (StatusCode::OK, w.finish()).into_response();
    insert(
        response.headers_mut(),
        header::CONTENT_TYPE,
        "application/xml",
    );
    insert(
        response.headers_mut(),
        HeaderName::from_static("x-cos-hash-crc64ecma"),
        &object.crc64.to_string(),
    );
    Ok(response)
}

async fn get(ctx: &Ctx<'_>, bucket: &str, key: &str, head: bool) -> Result<Response, CosError> {
    let (meta, blob) = ctx.state.store.open_object(bucket, key).await?;
    match parse_conditions(|n| ctx.header(n), "").check(&meta, true) {
        Ok(()) => {}
        Err(ConditionFailed::NotModified) => {
            // The validators, no body.
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            let h = response.headers_mut();
            insert(h, header::ETAG, &quoted(&meta.etag));
            insert(h, header::LAST_MODIFIED, &http_date(meta.last_modified));
            return Ok(response);
        }
        Err(ConditionFailed::PreconditionFailed) => {
            return Err(crate::core::objects::StoreError::PreconditionFailed.into());
        }
    }
    let range = match ctx.header("range") {
        Some(r) => match parse_range(r, meta.size) {
            RangeSpec::Full => None,
            RangeSpec::Partial(start, end) => Some((start, end)),
            RangeSpec::Unsatisfiable => {
                let mut e = CosError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range is not satisfiable.",
                )
                .render(&ctx.resource, &ctx.request_id);
                insert(
                    e.headers_mut(),
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", meta.size),
                );
                return Ok(e);
            }
        },
        None => None,
    };
    let (status, start, len) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, meta.size),
    };
    let body = if head || len == 0 {
        Body::empty()
    } else {
        let bytes = blob
            .range(start, len)
            .await
            .map_err(crate::core::objects::StoreError::from)?;
        Body::from_stream(bytes)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    object_headers(h, &meta, ctx);
    insert(h, header::CONTENT_LENGTH, &len.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        insert(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{}", start + len - 1, meta.size),
        );
    }
    Ok(response)
}

fn object_headers(h: &mut HeaderMap, meta: &ObjectMeta, ctx: &Ctx<'_>) {
    insert(h, header::ETAG, &quoted(&meta.etag));
    insert(h, header::LAST_MODIFIED, &http_date(meta.last_modified));
    insert(h, header::ACCEPT_RANGES, "bytes");
    insert(
        h,
        HeaderName::from_static("x-cos-hash-crc64ecma"),
        &meta.crc64.to_string(),
    );
    insert(
        h,
        HeaderName::from_static("x-cos-storage-class"),
        "STANDARD",
    );
    let overrides: BTreeMap<&str, &str> = [
        ("content-type", "response-content-type"),
        ("cache-control", "response-cache-control"),
        ("content-disposition", "response-content-disposition"),
        ("content-encoding", "response-content-encoding"),
        ("content-language", "response-content-language"),
        ("expires", "response-expires"),
    ]
    .into_iter()
    .filter_map(|(h, p)| ctx.param(p).map(|v| (h, v)))
    .collect();
    insert(h, header::CONTENT_TYPE, &meta.content_type);
    for (name, value) in meta.headers.iter().chain(meta.user_meta.iter()) {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            insert(h, name, value);
        }
    }
    for (name, value) in overrides {
        insert(h, HeaderName::from_static(name), value);
    }
}
