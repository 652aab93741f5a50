//! COS bucket and service operations: PUT/HEAD/DELETE Bucket, GET Bucket (list objects),
//! GET Bucket location, GET Service (list buckets).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Ctx;
use super::error::CosError;
use crate::core::objects::{ListParams, MAX_LIST_KEYS};
use crate::wire::iso8601_ms;
use crate::xml::XmlWriter;

/// GET Service: the buckets, all of them or those of one region.
pub async fn service(ctx: &Ctx<'_>, region: Option<&str>) -> Result<Response, CosError> {
    if ctx.method != Method::GET {
        return Err(CosError::method_not_allowed());
    }
    let buckets = ctx.state.store.list_buckets().await?;
    let mut w = XmlWriter::new();
    w.open("ListAllMyBucketsResult")
        .open("Owner")
        .leaf("ID", "qcs::cam::uin/0:uin/0")
        .leaf("DisplayName", "hashscan")
        .close()
        .open("Buckets");
    for b in buckets
        .iter()
        .filter(|b| region.is_none_or(|r| r == b.region))
    {
        w.open("Bucket")
            .leaf("Name", &b.name)
            .leaf("Location", &b.region)
            .leaf("CreationDate", &iso8601_ms(b.created_at))
            .close();
    }
    Ok(super::xml_ok(w.finish()))
}

/// Operations on a bucket itself.
pub async fn bucket(
    ctx: &Ctx<'_>,
    name: &str,
    region: Option<&str>,
    body: Option<Body>,
) -> Result<Response, CosError> {
    let store = &ctx.state.store;
    match ctx.method {
        Method::POST if ctx.has_param("delete") => delete_multiple(ctx, name, region, body).await,
        Method::PUT => {
            let region = region.unwrap_or(&ctx.state.config.default_region);
            // The one bucket ACL hashscan has: public-read (unsigned GET and HEAD).
            let public_read = match super::subresource::canned_acl(&ctx.headers)? {
                None | Some(super::subresource::CannedAcl::Private) => false,
                Some(super::subresource::CannedAcl::PublicRead) => true,
            };
            store.create_bucket(name, region, public_read).await?;
            Ok(StatusCode::OK.into_response())
        }
        Method::HEAD => {
            ctx.bucket(name, region, true).await?;
            Ok(StatusCode::OK.into_response())
        }
        Method::DELETE => {
            ctx.bucket(name, region, false).await?;
            store.delete_bucket(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::GET if ctx.has_param("location") => {
            let found = ctx.bucket(name, region, false).await?;
            let mut w = XmlWriter::new();
            w.leaf("LocationConstraint", &found.region);
            Ok(super::xml_ok(w.finish()))
        }
        Method::GET if ctx.has_param("uploads") => {
            ctx.bucket(name, region, false).await?;
            super::multipart::list_uploads(ctx, name).await
        }
        Method::GET => list(ctx, name, region).await,
        _ => Err(CosError::method_not_allowed()),
    }
}

/// DELETE Multiple Objects: `POST /?delete` with a `<Delete>` body whose Content-MD5 must be
/// sent and match; each key is deleted on its own and answered as `<Deleted>` (left out in
/// quiet mode) or `<Error>`.
async fn delete_multiple(
    ctx: &Ctx<'_>,
    name: &str,
    region: Option<&str>,
    body: Option<Body>,
) -> Result<Response, CosError> {
    ctx.bucket(name, region, false).await?;
    let want_md5 = match ctx.header("content-md5") {
        None => {
            return Err(CosError::new(
                StatusCode::BAD_REQUEST,
                "MissingContentMD5",
                "DELETE Multiple Objects needs a Content-MD5 header.",
            ));
        }
        Some(v) => super::parse::parse_content_md5(v).ok_or_else(|| {
            CosError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDigest",
                "The Content-MD5 you specified is not valid.",
            )
        })?,
    };
    let bytes = super::read_xml_body(
        body.unwrap_or_default(),
        super::delete_xml::MAX_BODY,
        Some(want_md5),
    )
    .await?;
    let request = super::delete_xml::parse_delete(&bytes).map_err(|m| super::malformed(&m))?;
    let outcomes = ctx.state.store.delete_many(name, &request.keys).await?;
    let mut w = XmlWriter::new();
    w.open("DeleteResult");
    for (key, outcome) in outcomes {
        match outcome {
            Ok(()) if request.quiet => {}
            Ok(()) => {
                w.open("Deleted").leaf("Key", &key).close();
            }
            Err(e) => {
                let e = CosError::from(e);
                w.open("Error")
                    .leaf("Key", &key)
                    .leaf("Code", e.code)
                    .leaf("Message", &e.message)
                    .close();
            }
        }
    }
    Ok(super::xml_ok(w.finish()))
}

async fn list(ctx: &Ctx<'_>, name: &str, region: Option<&str>) -> Result<Response, CosError> {
    ctx.bucket(name, region, true).await?;
    let max_keys = match ctx.param("max-keys") {
        None => MAX_LIST_KEYS,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| CosError::invalid_argument("max-keys must be a non-negative integer"))?
            .min(MAX_LIST_KEYS),
    };
    let url_encoded = match ctx.param("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => return Err(CosError::invalid_argument("encoding-type must be url")),
    };
    let params = ListParams {
        prefix: ctx.param("prefix").unwrap_or_default().to_string(),
        delimiter: ctx.param("delimiter").unwrap_or_default().to_string(),
        marker: ctx.param("marker").unwrap_or_default().to_string(),
        max_keys,
    };
    let page = ctx.state.store.list(name, &params).await?;
    let enc = |s: &str| super::list_text(s, url_encoded);
    let mut w = XmlWriter::new();
    w.open("ListBucketResult").leaf("Name", name);
    if url_encoded {
        w.leaf("EncodingType", "url");
    }
    w.leaf("Prefix", &enc(&params.prefix))
        .leaf("Marker", &enc(&params.marker))
        .leaf("MaxKeys", &max_keys.to_string());
    if !params.delimiter.is_empty() {
        w.leaf("Delimiter", &enc(&params.delimiter));
    }
    w.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
    if let Some(next) = &page.next_marker {
        w.leaf("NextMarker", &enc(next));
    }
    let owner = name.rsplit_once('-').map_or("0", |(_, appid)| appid);
    for o in &page.objects {
        w.open("Contents")
            .leaf("Key", &enc(&o.key))
            .leaf("LastModified", &iso8601_ms(o.last_modified))
            .leaf("ETag", &format!("\"{}\"", o.etag))
            .leaf("Size", &o.size.to_string())
            .open("Owner")
            .leaf("ID", owner)
            .leaf("DisplayName", owner)
            .close()
            .leaf("StorageClass", "STANDARD")
            .close();
    }
    for p in &page.common_prefixes {
        w.open("CommonPrefixes").leaf("Prefix", &enc(p)).close();
    }
    Ok(super::xml_ok(w.finish()))
}
