//! COS multipart upload: Initiate (`POST /<key>?uploads`), Upload Part (`PUT
//! /<key>?partNumber=N&uploadId=…`), Upload Part - Copy (the same with
//! `x-cos-copy-source`), Complete (`POST /<key>?uploadId=…`), Abort (`DELETE
//! /<key>?uploadId=…`), List Parts (`GET /<key>?uploadId=…`) and List Multipart Uploads
//! (`GET /?uploads`, from [`super::buckets`]). Parsing and rendering only: the rules are
//! [`crate::core::multipart::Multipart`]'s.

use axum::body::Body;
use axum::http::{HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};

use super::Ctx;
use super::error::CosError;
use super::headers::{content_md5, insert, quoted, upload_meta, written};
use super::parse::{parse_conditions, parse_copy_range};
use crate::core::multipart::{MAX_LIST, PartTarget, UploadListParams, part_number};
use crate::meta::uploads::Upload;
use crate::wire::iso8601_ms;
use crate::xml::XmlWriter;

/// A query parameter by name in any case (the SDKs send `uploadId`, `partNumber`).
fn param<'a>(ctx: &'a Ctx<'_>, name: &str) -> Option<&'a str> {
    ctx.query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether an object request is a multipart operation.
pub fn is_multipart(ctx: &Ctx<'_>) -> bool {
    ["uploads", "uploadid", "partnumber"]
        .iter()
        .any(|p| param(ctx, p).is_some())
}

/// Handles a multipart operation on an object.
pub async fn handle(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    // Which upload a write goes to must be what was signed, not added to a captured URL.
    if ctx.method != Method::GET {
        super::subresource::require_signed(
            ctx.signature.as_ref(),
            &ctx.query,
            &["uploads", "uploadId", "partNumber"],
        )?;
    }
    let upload_id = param(ctx, "uploadid");
    match (&ctx.method, upload_id) {
        (&Method::POST, None) if param(ctx, "uploads").is_some() => {
            initiate(ctx, bucket, key).await
        }
        (_, None) => Err(CosError::invalid_argument(
            "partNumber needs an uploadId; begin an upload with POST ?uploads.",
        )),
        (_, Some("")) => Err(CosError::invalid_argument("uploadId is empty.")),
        (&Method::PUT, Some(id)) => {
            let number = param(ctx, "partnumber")
                .ok_or_else(|| CosError::invalid_argument("Upload Part needs a partNumber."))?;
            let number = part_number(number)?;
            if ctx.header("x-cos-copy-source").is_some() {
                copy_part(ctx, bucket, key, id, number).await
            } else {
                upload_part(ctx, bucket, key, id, number, body).await
            }
        }
        _ if param(ctx, "partnumber").is_some() => Err(CosError::invalid_argument(
            "partNumber is only for Upload Part (PUT).",
        )),
        (&Method::POST, Some(id)) => complete(ctx, bucket, key, id, body).await,
        (&Method::GET, Some(id)) => list_parts(ctx, bucket, key, id).await,
        (&Method::DELETE, Some(id)) => {
            ctx.state.multipart.abort(bucket, key, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(CosError::method_not_allowed()),
    }
}

async fn initiate(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, CosError> {
    let meta = upload_meta(&ctx.headers)?;
    let upload = ctx.state.multipart.initiate(bucket, key, meta).await?;
    let mut w = XmlWriter::new();
    w.open("InitiateMultipartUploadResult")
        .leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("UploadId", &upload.upload_id);
    Ok(super::xml_ok(w.finish()))
}

async fn upload_part(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: u32,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let size_hint = match ctx.header("content-length") {
        None => None,
        Some(len) => Some(
            len.parse::<u64>()
                .map_err(|_| CosError::invalid_argument("Content-Length is not a number"))?,
        ),
    };
    let md5 = content_md5(ctx)?;
    let stream = body
        .take()
        .unwrap_or_default()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let part = ctx
        .state
        .multipart
        .upload_part(
            PartTarget {
                bucket,
                key,
                upload_id,
                number,
            },
            stream,
            size_hint,
            md5,
        )
        .await?;
    let mut response = StatusCode::OK.into_response();
    written(response.headers_mut(), &part.etag, part.crc64);
    Ok(response)
}

async fn copy_part(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: u32,
) -> Result<Response, CosError> {
    let (src_bucket, src_key) = super::headers::copy_source(ctx).await?;
    let range = match ctx.header("x-cos-copy-source-range").map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(parse_copy_range(r).ok_or_else(|| {
            CosError::invalid_argument("x-cos-copy-source-range must be bytes=<first>-<last>.")
        })?),
    };
    let conditions = parse_conditions(|n| ctx.header(n), "x-cos-copy-source-");
    let part = ctx
        .state
        .multipart
        .copy_part(
            PartTarget {
                bucket,
                key,
                upload_id,
                number,
            },
            (&src_bucket, &src_key),
            range,
            &conditions,
        )
        .await?;
    let mut w = XmlWriter::new();
    w.open("CopyPartResult")
        .leaf("ETag", &quoted(&part.etag))
        .leaf("LastModified", &iso8601_ms(part.last_modified))
        .leaf("CRC64", &part.crc64.to_string());
    let mut response = super::xml_ok(w.finish());
    insert(
        response.headers_mut(),
        HeaderName::from_static("x-cos-hash-crc64ecma"),
        &part.crc64.to_string(),
    );
    Ok(response)
}

async fn complete(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    // Nothing is read for an upload that does not exist.
    ctx.state.multipart.upload(bucket, key, upload_id).await?;
    // A Content-MD5 (the Node.js SDK sends one) is checked while the body is read.
    let bytes = super::read_xml_body(
        body.take().unwrap_or_default(),
        super::multipart_xml::MAX_BODY,
        content_md5(ctx)?,
    )
    .await?;
    let listed = super::multipart_xml::parse_complete(&bytes).map_err(|m| super::malformed(&m))?;
    // Every check a client can be told with a status is made here.
    let plan = ctx
        .state
        .multipart
        .plan_completion(bucket, key, upload_id, &listed)
        .await?;
    let crc64 = plan.crc64;
    let result = {
        let mut w = XmlWriter::new();
        w.open("CompleteMultipartUploadResult")
            .leaf("Location", &ctx.resource)
            .leaf("Bucket", bucket)
            .leaf("Key", key)
            .leaf("ETag", &quoted(&plan.etag));
        w.finish()
    };
    // Joining the parts of a large object takes a while (a copy on most file systems): it
    // runs on its own, and a client still waiting after a moment gets the answer COS gives,
    // 200 at once with whitespace until the outcome — the result, or an <Error> in the body
    // (the Python SDK looks for the ETag for this reason). The object is committed either
    // way, even if the client hangs up.
    let multipart = ctx.state.multipart.clone();
    let mut join = tokio::spawn(async move { multipart.finish_completion(plan).await });
    let (resource, request_id) = (ctx.resource.clone(), ctx.request_id.clone());
    let outcome =
        move |joined: Result<Result<_, _>, tokio::task::JoinError>| -> Result<(), CosError> {
            match joined {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(CosError::from(e)),
                Err(e) => {
                    tracing::error!(error = %e, "a multipart completion failed");
                    Err(CosError::internal())
                }
            }
        };
    let mut response = match tokio::time::timeout(COMPLETE_WAIT, &mut join).await {
        Ok(joined) => {
            outcome(joined)?;
            super::xml_ok(result)
        }
        Err(_) => {
            let done = async move {
                match outcome(join.await) {
                    Ok(()) => result,
                    Err(e) => e.document(&resource, &request_id),
                }
            };
            let mut r = Response::new(keep_alive_body(done, KEEP_ALIVE_EVERY));
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/xml"),
            );
            r
        }
    };
    insert(
        response.headers_mut(),
        HeaderName::from_static("x-cos-hash-crc64ecma"),
        &crc64.to_string(),
    );
    Ok(response)
}

/// How long a completion is awaited before the answer starts and is kept alive.
const COMPLETE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How often a space is sent while a completion runs.
const KEEP_ALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A body that starts with the XML declaration, sends a space every `every` until `done`
/// gives the document (its own declaration left out), then the document: whitespace between
/// the declaration and the root element is allowed, and it keeps idle-timeouts of clients
/// and proxies from closing the connection.
fn keep_alive_body<F>(done: F, every: std::time::Duration) -> Body
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    enum Step<F> {
        Start(std::pin::Pin<Box<F>>),
        Wait(std::pin::Pin<Box<F>>),
        End,
    }
    let stream =
        futures_util::stream::unfold(Step::Start(Box::pin(done)), move |step| async move {
            match step {
                Step::Start(done) => Some((
                    bytes::Bytes::from_static(DECLARATION.as_bytes()),
                    Step::Wait(done),
                )),
                Step::Wait(mut done) => match tokio::time::timeout(every, done.as_mut()).await {
                    Err(_) => Some((bytes::Bytes::from_static(b" "), Step::Wait(done))),
                    Ok(doc) => {
                        let doc = doc
                            .strip_prefix(DECLARATION)
                            .map(str::to_string)
                            .unwrap_or(doc);
                        Some((bytes::Bytes::from(doc), Step::End))
                    }
                },
                Step::End => None,
            }
        })
        .map(Ok::<_, std::convert::Infallible>);
    Body::from_stream(stream)
}

/// Whether a listing asks for URL-encoded keys (`encoding-type=url`).
fn url_encoded(ctx: &Ctx<'_>) -> Result<bool, CosError> {
    match ctx.param("encoding-type") {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(CosError::invalid_argument("encoding-type must be url")),
    }
}

fn encoder(url: bool) -> impl Fn(&str) -> String {
    move |s: &str| super::list_text(s, url)
}

/// A listing's page size parameter: a non-negative integer, at most [`MAX_LIST`].
fn page_size(ctx: &Ctx<'_>, name: &str) -> Result<usize, CosError> {
    match ctx.param(name) {
        None => Ok(MAX_LIST),
        Some(v) => Ok(v
            .trim()
            .parse::<usize>()
            .map_err(|_| CosError::invalid_argument(format!("{name} must be a number")))?
            .min(MAX_LIST)),
    }
}

/// The owner shown in listings: the bucket's appid, as COS names accounts.
fn owner(w: &mut XmlWriter, element: &'static str, bucket: &str) {
    let appid = bucket.rsplit_once('-').map_or("0", |(_, a)| a);
    w.open(element)
        .leaf("ID", &format!("qcs::cam::uin/{appid}:uin/{appid}"))
        .leaf("DisplayName", appid)
        .close();
}

async fn list_parts(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<Response, CosError> {
    let url = url_encoded(ctx)?;
    let enc = encoder(url);
    let max = page_size(ctx, "max-parts")?;
    let marker = match ctx.param("part-number-marker") {
        None => 0,
        Some(m) => m
            .trim()
            .parse::<u32>()
            .map_err(|_| CosError::invalid_argument("part-number-marker must be a number"))?,
    };
    let (upload, page) = ctx
        .state
        .multipart
        .list_parts(bucket, key, upload_id, marker, max)
        .await?;
    let mut w = XmlWriter::new();
    w.open("ListPartsResult").leaf("Bucket", bucket);
    if url {
        w.leaf("Encoding-type", "url");
    }
    w.leaf("Key", &enc(&upload.key))
        .leaf("UploadId", &upload.upload_id);
    owner(&mut w, "Initiator", bucket);
    owner(&mut w, "Owner", bucket);
    w.leaf("StorageClass", "STANDARD")
        .leaf("PartNumberMarker", &marker.to_string())
        .leaf("NextPartNumberMarker", &page.next_marker.to_string())
        .leaf("MaxParts", &max.to_string())
        .leaf("IsTruncated", if page.truncated { "true" } else { "false" });
    for p in &page.parts {
        w.open("Part")
            .leaf("PartNumber", &p.number.to_string())
            .leaf("LastModified", &iso8601_ms(p.last_modified))
            .leaf("ETag", &quoted(&p.etag))
            .leaf("Size", &p.size.to_string())
            .close();
    }
    Ok(super::xml_ok(w.finish()))
}

/// List Multipart Uploads: `GET /?uploads` on a bucket.
pub async fn list_uploads(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, CosError> {
    let url = url_encoded(ctx)?;
    let enc = encoder(url);
    let params = UploadListParams {
        prefix: ctx.param("prefix").unwrap_or_default().to_string(),
        delimiter: ctx.param("delimiter").unwrap_or_default().to_string(),
        key_marker: ctx.param("key-marker").unwrap_or_default().to_string(),
        upload_id_marker: ctx
            .param("upload-id-marker")
            .unwrap_or_default()
            .to_string(),
        max_uploads: page_size(ctx, "max-uploads")?,
    };
    let page = ctx.state.multipart.list_uploads(bucket, &params).await?;
    let mut w = XmlWriter::new();
    w.open("ListMultipartUploadsResult").leaf("Bucket", bucket);
    if url {
        w.leaf("Encoding-Type", "url");
    }
    w.leaf("KeyMarker", &enc(&params.key_marker))
        .leaf("UploadIdMarker", &params.upload_id_marker)
        .leaf("NextKeyMarker", &enc(&page.next_key_marker))
        .leaf("NextUploadIdMarker", &page.next_upload_id_marker)
        .leaf("MaxUploads", &params.max_uploads.to_string())
        .leaf("IsTruncated", if page.truncated { "true" } else { "false" })
        .leaf("Prefix", &enc(&params.prefix))
        .leaf("Delimiter", &enc(&params.delimiter));
    for u in &page.uploads {
        upload_entry(&mut w, bucket, u, &enc);
    }
    for p in &page.common_prefixes {
        w.open("CommonPrefixes").leaf("Prefix", &enc(p)).close();
    }
    Ok(super::xml_ok(w.finish()))
}

fn upload_entry(w: &mut XmlWriter, bucket: &str, u: &Upload, enc: &impl Fn(&str) -> String) {
    w.open("Upload")
        .leaf("Key", &enc(&u.key))
        .leaf("UploadId", &u.upload_id)
        .leaf("StorageClass", "STANDARD");
    owner(w, "Initiator", bucket);
    owner(w, "Owner", bucket);
    w.leaf("Initiated", &iso8601_ms(u.initiated)).close();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_outcome_is_kept_alive_with_whitespace_in_well_formed_xml() {
        let done = async {
            tokio::time::sleep(std::time::Duration::from_millis(130)).await;
            let mut w = XmlWriter::new();
            w.open("CompleteMultipartUploadResult")
                .leaf("ETag", "\"e-2\"");
            w.finish()
        };
        let body = keep_alive_body(done, std::time::Duration::from_millis(20));
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let (declaration, rest) = text.split_once('\n').unwrap();
        assert_eq!(declaration, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let spaces = rest.chars().take_while(|c| *c == ' ').count();
        assert!(spaces >= 3, "{text:?}");
        assert!(
            rest.trim_start()
                .starts_with("<CompleteMultipartUploadResult>")
        );
        assert_eq!(text.matches("<?xml").count(), 1);
        // The whole is one well-formed document.
        let mut reader = quick_xml::Reader::from_str(&text);
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Eof => break,
                _ => continue,
            }
        }
    }

    #[tokio::test]
    async fn a_quick_outcome_is_sent_at_once() {
        let body = keep_alive_body(
            async { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error/>".to_string() },
            std::time::Duration::from_secs(60),
        );
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        assert_eq!(
            &bytes[..],
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error/>"
        );
    }
}
