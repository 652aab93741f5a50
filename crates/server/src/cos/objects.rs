//! COS object operations: PUT (and PUT - Copy), GET with Range, HEAD, DELETE.

use std::collections::BTreeMap;
use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::error::CosError;
use super::{Ctx, route};
use crate::http::{http_date, iso8601_ms};
use crate::store::{MetadataDirective, NewMeta, ObjectMeta};
use crate::xml::XmlWriter;

/// Standard headers stored with an object and returned by GET and HEAD.
const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// Size of the reads that feed a GET response.
const READ_CHUNK: usize = 256 * 1024;

pub async fn object(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
    key: &str,
    body: Body,
) -> Result<Response, CosError> {
    let read_only = ctx.method == Method::GET || ctx.method == Method::HEAD;
    if ctx.has_param("ci-process") {
        return Err(CosError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "this ci-process is not implemented yet",
        ));
    }
    ctx.bucket(bucket, region, read_only).await?;
    ctx.state.store.validate_key(key)?;
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

/// The metadata a PUT (or a copy with `Replaced`) sets: Content-Type, the stored standard
/// headers and every `x-cos-meta-*` header.
fn new_meta(headers: &HeaderMap) -> NewMeta {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let mut meta = NewMeta {
        content_type: headers.get(header::CONTENT_TYPE).map(text),
        ..NewMeta::default()
    };
    for name in STORED_HEADERS {
        if let Some(v) = headers.get(name) {
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

async fn put(ctx: &Ctx<'_>, bucket: &str, key: &str, body: Body) -> Result<Response, CosError> {
    let limit = ctx.state.store.limits().max_object_size;
    if let Some(len) = ctx.header("content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| CosError::invalid_argument("Content-Length is not a number"))?;
        if len > limit {
            return Err(crate::store::StoreError::EntityTooLarge { limit }.into());
        }
    }
    let content_md5 = match ctx.header("content-md5") {
        None => None,
        Some(v) => Some(parse_content_md5(v).ok_or_else(|| {
            CosError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDigest",
                "The Content-MD5 you specified is not valid.",
            )
        })?),
    };
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let object = ctx
        .state
        .store
        .put(bucket, key, new_meta(&ctx.headers), stream, content_md5)
        .await?;
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    insert(h, header::ETAG, &quoted(&object.etag));
    insert(
        h,
        HeaderName::from_static("x-cos-hash-crc64ecma"),
        &object.crc64.to_string(),
    );
    Ok(response)
}

fn parse_content_md5(value: &str) -> Option<[u8; 16]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    bytes.try_into().ok()
}

async fn copy(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, CosError> {
    let source = ctx.header("x-cos-copy-source").unwrap_or_default();
    let (src_bucket, src_region, src_key) = parse_copy_source(source, &ctx.state.config.domains)
        .ok_or_else(|| {
            CosError::invalid_argument(
                "x-cos-copy-source is not <bucket>.cos.<region>.<domain>/<key>",
            )
        })?;
    // The source must be readable by this request too.
    ctx.bucket(&src_bucket, src_region.as_deref(), true).await?;
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
    let object = ctx
        .state
        .store
        .copy(&src_bucket, &src_key, bucket, key, directive)
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

/// `<bucket>.cos.<region>.<domain>/<key>` (what the SDKs send), or `/<bucket>/<key>`;
/// the key percent-encoded, a `?versionId=` suffix ignored.
fn parse_copy_source(source: &str, domains: &[String]) -> Option<(String, Option<String>, String)> {
    let source = source.split_once('?').map_or(source, |(s, _)| s);
    let source = source
        .strip_prefix("http://")
        .or_else(|| source.strip_prefix("https://"))
        .unwrap_or(source);
    let (host, raw_key) = source.split_once('/')?;
    let target = if host.is_empty() {
        route::resolve(None, &format!("/{raw_key}"), domains).ok()?
    } else {
        route::resolve(Some(host), &format!("/{raw_key}"), domains).ok()?
    };
    match target {
        route::Target::Bucket {
            bucket,
            region,
            key,
            path_style: false,
            ..
        } if !key.is_empty() => Some((bucket, region, key)),
        route::Target::Bucket {
            bucket,
            key,
            path_style: true,
            ..
        } if host.is_empty() && !key.is_empty() => Some((bucket, None, key)),
        _ => None,
    }
}

async fn get(ctx: &Ctx<'_>, bucket: &str, key: &str, head: bool) -> Result<Response, CosError> {
    let (meta, mut file) = ctx.state.store.open_object(bucket, key).await?;
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
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(crate::store::StoreError::from)?;
        }
        Body::from_stream(ReaderStream::with_capacity(file.take(len), READ_CHUNK))
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

fn insert(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

/// A single `bytes=` range (RFC 9110 §14.1). Syntax it does not understand, and lists of
/// several ranges, are ignored: the whole object is sent, as the RFC allows.
fn parse_range(value: &str, size: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        (true, false) => match parse(last) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(n) if size > 0 => RangeSpec::Partial(size.saturating_sub(n), size - 1),
            Some(_) => RangeSpec::Unsatisfiable,
            None => RangeSpec::Full,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return RangeSpec::Full;
            };
            let end = if last.is_empty() {
                Some(u64::MAX)
            } else {
                parse(last)
            };
            match end {
                None => RangeSpec::Full,
                Some(end) if end < start => RangeSpec::Full,
                Some(_) if start >= size => RangeSpec::Unsatisfiable,
                Some(end) => RangeSpec::Partial(start, end.min(size - 1)),
            }
        }
        (true, true) => RangeSpec::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=10-19", 100), RangeSpec::Partial(10, 19));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Partial(90, 99));
        assert_eq!(parse_range("bytes=-5", 100), RangeSpec::Partial(95, 99));
        assert_eq!(parse_range("bytes=-500", 100), RangeSpec::Partial(0, 99));
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            RangeSpec::Partial(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=x-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=0-0", 0), RangeSpec::Unsatisfiable);
    }

    #[test]
    fn copy_sources() {
        let d = vec!["myqcloud.com".to_string()];
        assert_eq!(
            parse_copy_source(
                "b-125.cos.ap-beijing.myqcloud.com/dir/%E6%96%87+x?versionId=1",
                &d
            ),
            Some(("b-125".into(), Some("ap-beijing".into()), "dir/文+x".into()))
        );
        assert_eq!(
            parse_copy_source("/b-125/k", &d),
            Some(("b-125".into(), None, "k".into()))
        );
        assert_eq!(parse_copy_source("nonsense", &d), None);
        assert_eq!(parse_copy_source("b-125.cos.r.myqcloud.com/", &d), None);
    }

    #[test]
    fn content_md5() {
        assert_eq!(
            parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg=="),
            Some(hex_literal("d41d8cd98f00b204e9800998ecf8427e"))
        );
        assert_eq!(parse_content_md5("nope"), None);
        assert_eq!(parse_content_md5("AAAA"), None);
    }

    fn hex_literal(s: &str) -> [u8; 16] {
        hex::decode(s).unwrap().try_into().unwrap()
    }
}
