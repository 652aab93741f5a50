//! The Tencent COS dialect: the object API that cos-python-sdk-v5 and the other COS SDKs
//! speak (spec: `shared/specs/cos-ci.md` §1, §4–§6, §8).
//!
//! Reading order: [`handle`] resolves the target ([`route`]), authenticates it (COS q-sign,
//! `hashscan_auth::cos`), then calls the operation in [`objects`] or [`buckets`]; those parse
//! the request, call the [`ObjectStore`](crate::core::objects::ObjectStore), which decides, and
//! render the answer. Every error goes through the one table in [`error`].

mod buckets;
pub mod ci;
pub mod ci_xml;
pub mod delete_xml;
pub mod error;
pub mod file_jobs;
mod headers;
pub mod multipart;
pub mod multipart_xml;
mod objects;
pub mod parse;
pub mod post_object;
pub mod queues;
pub mod subresource;
pub mod tagging_xml;
pub mod virus;
pub mod virus_xml;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use axum::response::Response;

use self::error::CosError;
use crate::AppState;
use crate::route::{self, Target, resolve};

/// Everything an operation needs to know about the request.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub method: Method,
    pub headers: HeaderMap,
    /// Decoded query pairs, empty values kept.
    pub query: Vec<(String, String)>,
    /// The access key that signed the request; `None` for anonymous public reads.
    pub access_key: Option<String>,
    /// The verified signature (what it covers), `None` for anonymous requests.
    pub signature: Option<hashscan_auth::Verified>,
    /// The request id sent back as `x-cos-request-id`.
    pub request_id: String,
    /// Host and path, as error bodies name them.
    pub resource: String,
    /// A Cloud Infinite call: authentication errors use the CI codes.
    pub ci: bool,
}

impl Ctx<'_> {
    /// A query parameter; empty values count as absent (PY sends `nextToken=` etc.).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether a query parameter is present at all (`?acl`, `?cancel`).
    pub fn has_param(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Handles a request addressed to the COS dialect.
pub async fn handle(state: &AppState, req: Request<Body>, request_id: &str) -> Response {
    let expects_continue = crate::wire::expects_continue(req.headers());
    let uri = req.uri().clone();
    let host = uri.authority().map(|a| a.as_str().to_string()).or_else(|| {
        req.headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    let resource = format!("{}{}", host.as_deref().unwrap_or(""), uri.path());
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let mut ci = false;
    let mut response = match dispatch(
        state,
        parts,
        &mut body,
        host.as_deref(),
        request_id,
        &resource,
        &mut ci,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            // Answering before the body is read makes hyper close the connection, and a
            // client still sending sees a reset instead of the error: read it first —
            // unless the client waits for `100 Continue` before sending it: then it
            // sends nothing, and reading would ask it for the body.
            if let Some(unread) = body.take().filter(|_| !expects_continue) {
                drain(unread).await;
            }
            e.render(&resource, request_id)
        }
    };
    let headers = response.headers_mut();
    if ci {
        // Cloud Infinite answers as CI does: its server name and request-id header (the
        // Node.js SDK reads `x-ci-request-id`).
        headers.insert("server", axum::http::HeaderValue::from_static("tencent-ci"));
        if let Ok(v) = axum::http::HeaderValue::from_str(request_id) {
            headers.insert("x-ci-request-id", v);
        }
    } else {
        headers.insert(
            "server",
            axum::http::HeaderValue::from_static("tencent-cos"),
        );
    }
    response
}

/// Most bytes of an unread request body discarded so that an error can be delivered on an
/// open connection; a larger body is left unread and the connection closed.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
}

async fn dispatch(
    state: &AppState,
    parts: axum::http::request::Parts,
    body: &mut Option<Body>,
    host: Option<&str>,
    request_id: &str,
    resource: &str,
    ci_call: &mut bool,
) -> Result<Response, CosError> {
    let target = resolve(host, parts.uri.path(), &state.config.domains)
        .map_err(|e| CosError::invalid_argument(e.to_string()))?;
    let raw_query = parts.uri.query().unwrap_or("");
    let path = crate::route::decode_path(parts.uri.path())
        .map_err(|e| CosError::invalid_argument(e.to_string()))?;

    // Authenticate: a signature in the Authorization header or the query, or nothing.
    let verified = crate::access::verify_cos_signature(
        state,
        parts.method.as_str(),
        &path,
        raw_query,
        &parts.headers,
    );
    let ci = is_ci_call(&target, &path);
    *ci_call = ci;
    let signature = match verified {
        Ok(v) => Some(v),
        Err(hashscan_auth::AuthError::Missing) => None,
        Err(e) if ci => return Err(CosError::ci_auth(e)),
        Err(e) => return Err(e.into()),
    };
    let query = hashscan_auth::encode::decode_query(raw_query, hashscan_auth::encode::Plus::Space);
    let ctx = Ctx {
        state,
        method: parts.method,
        headers: parts.headers,
        query,
        access_key: signature.as_ref().map(|v| v.access_key_id.clone()),
        signature,
        request_id: request_id.to_string(),
        resource: resource.to_string(),
        ci,
    };

    match target {
        Target::Service { region } if path == "/file_bucket" => {
            ctx.require_signed()?;
            queues::file_bucket_list(&ctx, region.as_deref()).await
        }
        Target::Service { region } => {
            ctx.require_signed()?;
            buckets::service(&ctx, region.as_deref()).await
        }
        // A bucket-less CI call in IP/port mode arrives path-style: `/file_bucket`.
        Target::Bucket {
            bucket,
            key,
            path_style: true,
            ..
        } if bucket == "file_bucket" && key.is_empty() => {
            ctx.require_signed()?;
            queues::file_bucket_list(&ctx, None).await
        }
        Target::Bucket {
            bucket,
            region,
            key,
            kind,
            ..
        } => {
            if key == "file_bucket" && (ctx.method == Method::POST || ctx.method == Method::DELETE)
            {
                ctx.require_signed()?;
                return queues::file_bucket_toggle(&ctx, &bucket, region.as_deref()).await;
            }
            if key == "file_bucket" && ctx.method == Method::GET && kind == route::HostKind::Ci {
                ctx.require_signed()?;
                return queues::file_bucket_list(&ctx, region.as_deref()).await;
            }
            if file_jobs::is_file_jobs(
                &ctx.method,
                &key,
                kind == route::HostKind::Ci,
                multipart::is_multipart(&ctx),
            ) {
                ctx.require_signed()?;
                return file_jobs::handle(&ctx, &bucket, region.as_deref(), &key, body).await;
            }
            if virus::is_virus(
                &ctx.method,
                &key,
                kind == route::HostKind::Ci,
                multipart::is_multipart(&ctx),
            ) {
                ctx.require_signed()?;
                return virus::handle(&ctx, &bucket, region.as_deref(), &key, body).await;
            }
            if queues::is_queue_or_list(&ctx, &key, kind == route::HostKind::Ci) {
                ctx.require_signed()?;
                return queues::handle(&ctx, &bucket, region.as_deref(), &key, body).await;
            }
            // A browser form upload: signed by its policy, not by a header.
            if key.is_empty() && post_object::is_post_object(&ctx) {
                return post_object::handle(&ctx, &bucket, region.as_deref(), body).await;
            }
            // An operation selected by a parameter hashscan does not implement is refused
            // here, before anything is read or written.
            let level = if key.is_empty() {
                subresource::Level::Bucket
            } else {
                subresource::Level::Object
            };
            subresource::check(level, &ctx.method, &ctx.query)?;
            if key.is_empty() {
                ctx.require_signed()?;
                buckets::bucket(&ctx, &bucket, region.as_deref(), body.take()).await
            } else {
                objects::object(&ctx, &bucket, region.as_deref(), &key, body).await
            }
        }
    }
}

/// Refuses, at submission, a callback URL the outbound address policy would refuse at
/// delivery (a private or loopback address, unless allowed; a malformed URL), so that the
/// client learns it now instead of from a job whose callback is silently given up.
pub(crate) async fn check_callback_url(ctx: &Ctx<'_>, url: &str) -> Result<(), CosError> {
    match ctx.state.detect.fetcher.precheck(url).await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::info!(error = %e, "callback URL refused at submission");
            Err(CosError::invalid_argument(match e {
                hashscan_fetch::FetchError::Forbidden { host, .. } => format!(
                    "The callback URL's host {host} is, or resolves to, an address this server may not call."
                ),
                hashscan_fetch::FetchError::InvalidUrl(why) => {
                    format!("The callback URL is not valid: {why}.")
                }
                hashscan_fetch::FetchError::Resolve(host) => {
                    format!("The callback URL's host {host} cannot be resolved.")
                }
                _ => "The callback URL cannot be checked.".to_string(),
            }))
        }
    }
}

/// A 200 answer with an XML body.
pub(crate) fn xml_ok(body: String) -> Response {
    use axum::response::IntoResponse;
    let mut r = (axum::http::StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/xml"),
    );
    r
}

/// `encoding-type=url`: everything but unreserved characters and `/` is percent-encoded.
const URL_ENCODING: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A key or prefix as a listing shows it: percent-encoded when `encoding-type=url` asks.
pub(crate) fn list_text(s: &str, url_encoded: bool) -> String {
    if url_encoded {
        percent_encoding::utf8_percent_encode(s, URL_ENCODING).to_string()
    } else {
        s.to_string()
    }
}

/// 400 `MalformedXML`.
pub(crate) fn malformed(message: &str) -> CosError {
    CosError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "MalformedXML",
        format!("The XML you provided was not well-formed: {message}"),
    )
}

/// Reads an XML request body of at most `limit` bytes, checked against `md5` (its
/// Content-MD5) while it is read when one is given: a mismatch is `InvalidDigest`, a larger
/// or cut-off body `MalformedXML`.
pub(crate) async fn read_xml_body(
    body: Body,
    limit: usize,
    md5: Option<[u8; 16]>,
) -> Result<bytes::Bytes, CosError> {
    let body = match md5 {
        Some(md5) => crate::body_digest::verify(body, crate::body_digest::Expect::Md5(md5)),
        None => body,
    };
    match axum::body::to_bytes(body, limit + 1).await {
        Ok(bytes) if bytes.len() <= limit => Ok(bytes),
        Err(e) if crate::body_digest::is_mismatch(&e) => {
            Err(crate::core::objects::StoreError::BadDigest.into())
        }
        _ => Err(malformed(&format!(
            "The body is larger than {limit} bytes or was cut off."
        ))),
    }
}

/// The body of a job-finished callback: a hash job's (`file_jobs`), or a virus
/// detection's (`virus`), by the job's tag.
pub fn callback_body(job: &crate::meta::jobs::Job, format: &str) -> (&'static str, Vec<u8>) {
    if job.tag == crate::meta::jobs::DETECT_TAG {
        virus::callback_body(job)
    } else {
        file_jobs::callback_body(job, format)
    }
}

/// Reads a CI request body (XML, at most [`ci_xml::MAX_BODY`] bytes).
pub(crate) async fn read_ci_body(body: &mut Option<Body>) -> Result<bytes::Bytes, CosError> {
    let limit = ci_xml::MAX_BODY;
    axum::body::to_bytes(body.take().unwrap_or_default(), limit + 1)
        .await
        .map_err(|_| {
            CosError::from(ci_xml::CiXmlError::InvalidContent(format!(
                "The request body is larger than {limit} bytes or could not be read."
            )))
        })
}

/// Whether a request addresses Cloud Infinite: the ci host, or a CI path on the cos host.
fn is_ci_call(target: &Target, path: &str) -> bool {
    match target {
        Target::Bucket {
            kind: route::HostKind::Ci,
            ..
        } => true,
        Target::Bucket {
            bucket,
            key,
            path_style: true,
            ..
        } if bucket == "file_bucket" && key.is_empty() => true,
        Target::Bucket { key, .. } => {
            let top = key.split('/').next().unwrap_or_default();
            matches!(
                top,
                "file_jobs" | "jobs" | "file_queue" | "file_bucket" | "virus"
            )
        }
        Target::Service { .. } => path == "/file_bucket",
    }
}

impl Ctx<'_> {
    fn require_signed(&self) -> Result<(), CosError> {
        match self.access_key {
            Some(_) => Ok(()),
            None if self.ci => Err(CosError::ci_auth(hashscan_auth::AuthError::Missing)),
            None => Err(CosError::access_denied("Access Denied.")),
        }
    }

    /// Resolves a bucket for an operation: it must exist, belong to the region of a
    /// virtual host, and be readable by this request (`read_only` allows public-read).
    async fn bucket(
        &self,
        name: &str,
        region: Option<&str>,
        read_only: bool,
    ) -> Result<crate::core::objects::Bucket, CosError> {
        Ok(crate::access::usable_bucket(
            self.state,
            name,
            region,
            self.access_key.is_some(),
            read_only,
        )
        .await?)
    }
}
