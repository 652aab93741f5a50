//! hashscan's own API: JSON under `/v1` (docs/native-api.md).
//!
//! Like the cloud dialects, this one only parses, authenticates and renders; the core
//! ([`Detections`](crate::core::detections::Detections), the [`JobStore`](crate::meta::jobs::JobStore),
//! the [`ObjectStore`](crate::core::objects::ObjectStore)) decides.
//!
//! Reading order: [`is_native`] picks the requests; [`handle`] matches them against
//! [`ROUTES`] — the one table of what is served, also checked against the OpenAPI document
//! by the tests, so that a route cannot be added without being documented — verifies the
//! COS signature of the signed ones, and calls the handler in [`handlers`]. Request and
//! answer types are in [`model`], the error table in [`error`], the generated OpenAPI
//! document in [`openapi`].
//!
//! Authentication is the COS `q-sign-algorithm=sha1` scheme, verified by the COS dialect's
//! own function: no secret ever travels, and the COS SDKs and tools can sign these requests.
//! Unlike COS, a `/v1` signature must cover the whole request — every query parameter and
//! the body by a signed digest header — within a bounded window ([`binding`]).

pub mod binding;
pub mod error;
pub mod handlers;
pub mod model;
pub mod openapi;
mod reply;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::response::Response;

use self::error::ApiError;
use crate::AppState;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    SubmitHash,
    SubmitDetection,
    LookupDetections,
    GetDetection,
    ListJobs,
    GetJob,
    CancelJob,
    Version,
    Health,
    OpenApi,
}

/// One served route: method, path template (OpenAPI syntax, `{name}` for one segment),
/// what it does, and whether it must be signed.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
    pub signed: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    endpoint: Endpoint,
    signed: bool,
) -> Route {
    Route {
        method,
        path,
        endpoint,
        signed,
    }
}

/// Every route of the API, in matching order (literal paths before templates that would
/// also match them). The router serves exactly these, and the tests require each to be in
/// the OpenAPI document.
pub const ROUTES: &[Route] = &[
    route("POST", "/v1/hash", Endpoint::SubmitHash, true),
    route("POST", "/v1/detections", Endpoint::SubmitDetection, true),
    route(
        "POST",
        "/v1/detections/lookup",
        Endpoint::LookupDetections,
        true,
    ),
    route("GET", "/v1/detections/{id}", Endpoint::GetDetection, true),
    route("GET", "/v1/jobs", Endpoint::ListJobs, true),
    route("GET", "/v1/jobs/{id}", Endpoint::GetJob, true),
    route("POST", "/v1/jobs/{id}/cancel", Endpoint::CancelJob, true),
    route("GET", "/v1/version", Endpoint::Version, false),
    route("GET", "/v1/health", Endpoint::Health, false),
    route("GET", "/v1/openapi.json", Endpoint::OpenApi, false),
];

/// Whether a request is for this API: its path is under `/v1` and its host does not name
/// a COS bucket (on `<bucket>.cos.<region>.<domain>`, `/v1/…` is an object key). A bucket
/// cannot be named `v1` (COS names end in `-<appid>`), so path-style COS requests never
/// collide.
pub fn is_native(req: &Request<Body>, domains: &[String]) -> bool {
    let path = req.uri().path();
    if path != "/v1" && !path.starts_with("/v1/") {
        return false;
    }
    let host = req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    matches!(
        crate::route::resolve(host, path, domains),
        Ok(crate::route::Target::Bucket {
            path_style: true,
            ..
        })
    )
}

/// Everything a handler needs to know about the request.
pub struct Cx<'a> {
    pub state: &'a AppState,
    pub headers: HeaderMap,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// The access key that signed the request (`None` on unsigned routes).
    pub access_key: Option<String>,
}

impl Cx<'_> {
    /// A query parameter; empty values count as absent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The media type of the body (`Content-Type` without parameters, lower-case).
    pub fn content_type(&self) -> Option<String> {
        self.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
    }
}

/// Handles a request [`is_native`] accepted.
pub async fn handle(state: &AppState, req: Request<Body>, request_id: &str) -> Response {
    let expects_continue = crate::wire::expects_continue(req.headers());
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    match dispatch(state, parts, &mut body).await {
        Ok(r) => r,
        Err(e) => {
            // Answering before the body is read makes hyper close the connection, and a
            // client still sending sees a reset instead of the error: read it first —
            // unless the client waits for `100 Continue` before sending it: then it
            // sends nothing, and reading would ask it for the body.
            if let Some(unread) = body.take().filter(|_| !expects_continue) {
                drain(unread).await;
            }
            e.render(request_id)
        }
    }
}

/// Most bytes of an unread body discarded so that an error reaches the client on an open
/// connection; a larger body is left unread and the connection closed.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
}

/// Why no route was found.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    NotFound,
    /// The path exists with these other methods.
    MethodNotAllowed(Vec<&'static str>),
}

/// The route serving `method path` (`path` decoded) and the values of its `{…}` segments.
pub fn find_route(method: &str, path: &str) -> Result<(&'static Route, Vec<String>), Miss> {
    let mut allowed = Vec::new();
    for r in ROUTES {
        if let Some(params) = match_template(r.path, path) {
            if r.method == method {
                return Ok((r, params));
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() {
        Err(Miss::NotFound)
    } else {
        Err(Miss::MethodNotAllowed(allowed))
    }
}

/// Matches `path` against a template segment by segment; `{…}` takes one non-empty segment.
fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let mut want = template.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push(g.to_string());
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

async fn dispatch(
    state: &AppState,
    parts: axum::http::request::Parts,
    body: &mut Option<Body>,
) -> Result<Response, ApiError> {
    let path = crate::route::decode_path(parts.uri.path())
        .map_err(|e| ApiError::bad_request("InvalidPath", e.to_string()))?;
    let (route, params) = find_route(parts.method.as_str(), &path).map_err(|m| match m {
        Miss::NotFound => ApiError::not_found("NoSuchRoute", "No such API route."),
        Miss::MethodNotAllowed(allowed) => ApiError::method_not_allowed(&allowed),
    })?;
    let raw_query = parts.uri.query().unwrap_or("");
    let query = hashscan_auth::encode::decode_query(raw_query, hashscan_auth::encode::Plus::Space);
    let access_key = if route.signed {
        let verified = crate::access::verify_cos_signature(
            state,
            parts.method.as_str(),
            &path,
            raw_query,
            &parts.headers,
        )
        .map_err(ApiError::from)?;
        // The signature must cover the whole request: every parameter and the body.
        let expect = binding::check(&verified, &query, &parts.headers)?;
        if let Some(b) = body.take() {
            *body = Some(binding::verify(b, expect));
        }
        Some(verified.access_key_id)
    } else {
        None
    };
    let cx = Cx {
        state,
        headers: parts.headers,
        query,
        access_key,
    };
    let id = params.into_iter().next().unwrap_or_default();
    match route.endpoint {
        Endpoint::SubmitHash => handlers::submit_hash(&cx, take(body)).await,
        Endpoint::SubmitDetection => handlers::submit_detection(&cx, take(body)).await,
        Endpoint::LookupDetections => handlers::lookup_detections(&cx, take(body)).await,
        Endpoint::GetDetection => handlers::get_detection(&cx, &id).await,
        Endpoint::ListJobs => handlers::list_jobs(&cx).await,
        Endpoint::GetJob => handlers::get_job(&cx, &id).await,
        Endpoint::CancelJob => handlers::cancel_job(&cx, &id).await,
        Endpoint::Version => Ok(handlers::version(&cx)),
        Endpoint::Health => Ok(handlers::health()),
        Endpoint::OpenApi => Ok(openapi::openapi_json()),
    }
}

fn take(body: &mut Option<Body>) -> Body {
    body.take().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_literal_paths_before_templates() {
        let (r, p) = find_route("POST", "/v1/detections/lookup").unwrap();
        assert_eq!(r.endpoint, Endpoint::LookupDetections);
        assert!(p.is_empty());
        let (r, p) = find_route("GET", "/v1/detections/abc").unwrap();
        assert_eq!(r.endpoint, Endpoint::GetDetection);
        assert_eq!(p, vec!["abc".to_string()]);
        let (r, p) = find_route("POST", "/v1/jobs/f1/cancel").unwrap();
        assert_eq!(r.endpoint, Endpoint::CancelJob);
        assert_eq!(p, vec!["f1".to_string()]);
    }

    #[test]
    fn misses() {
        for path in ["/v1/nothing", "/v1/jobs/", "/v1/jobs/a/b", "/v1"] {
            assert!(
                matches!(find_route("GET", path), Err(Miss::NotFound)),
                "{path}"
            );
        }
        assert!(matches!(
            find_route("DELETE", "/v1/jobs/f1"),
            Err(Miss::MethodNotAllowed(m)) if m == vec!["GET"]
        ));
    }

    #[test]
    fn every_route_is_in_the_openapi_document_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(&openapi::document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for r in ROUTES {
            let item = paths
                .get(r.path)
                .unwrap_or_else(|| panic!("{} is served but not documented", r.path));
            let op = &item[r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is not documented", r.method, r.path);
            assert_eq!(
                op.get("security").is_some(),
                r.signed,
                "{} {}: documented security differs from the route's",
                r.method,
                r.path
            );
        }
        let documented: usize = paths.values().map(|i| i.as_object().unwrap().len()).sum();
        assert_eq!(
            documented,
            ROUTES.len(),
            "a documented operation is not served"
        );
    }

    #[test]
    fn only_path_style_v1_requests_are_native() {
        let domains = vec!["myqcloud.com".to_string()];
        let req = |host: &str, path: &str| {
            Request::builder()
                .uri(path)
                .header("host", host)
                .body(Body::empty())
                .unwrap()
        };
        assert!(is_native(&req("127.0.0.1:8080", "/v1/version"), &domains));
        assert!(is_native(
            &req("hashscan.example.org", "/v1/jobs"),
            &domains
        ));
        assert!(!is_native(
            &req("b-125.cos.ap-x.myqcloud.com", "/v1/version"),
            &domains
        ));
        assert!(!is_native(&req("127.0.0.1", "/v10/x"), &domains));
        assert!(!is_native(&req("127.0.0.1", "/b-125/v1/x"), &domains));
    }
}
