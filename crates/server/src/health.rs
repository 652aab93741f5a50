//! The operator's endpoints: `/metrics` (Prometheus), `/healthz` (liveness) and `/readyz`
//! (readiness).
//!
//! They need no signature — a scraper or an orchestrator's probe has no key — so they show
//! nothing secret: counts, versions and a short reason, never a key, a bucket, an object or a
//! path. They answer `GET` and `HEAD` on the exact paths, and only on a host that names no COS
//! bucket: `GET /metrics` on `<bucket>.cos.<region>.<domain>` is still the object `metrics`.
//! (Path-style, `/metrics` would be a bucket without the `-<appid>` suffix every COS bucket
//! name has, so nothing is hidden there either.)

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::metrics::Format;

/// How long readiness waits for the database before saying it is not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// One of the operator's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Metrics,
    Healthz,
    Readyz,
}

/// The endpoint `req` asks for, if it asks for one.
pub fn endpoint(req: &Request<Body>, state: &AppState) -> Option<Endpoint> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    let endpoint = match req.uri().path() {
        "/metrics" => Endpoint::Metrics,
        "/healthz" => Endpoint::Healthz,
        "/readyz" => Endpoint::Readyz,
        _ => return None,
    };
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok());
    let resolved = crate::route::resolve(host, req.uri().path(), &state.config.domains);
    match resolved {
        Ok(crate::route::Target::Bucket {
            path_style: false, ..
        }) => None,
        _ => Some(endpoint),
    }
}

/// Answers an endpoint.
pub async fn handle(state: &AppState, endpoint: Endpoint, req: Request<Body>) -> Response {
    match endpoint {
        Endpoint::Healthz => text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        Endpoint::Readyz => match ready(state).await {
            Ok(()) => json(StatusCode::OK, serde_json::json!({ "status": "ready" })),
            Err(reason) => {
                tracing::warn!(%reason, "not ready");
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({ "status": "not ready", "reason": reason }),
                )
            }
        },
        Endpoint::Metrics => {
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept);
            let counts = match state.meta.jobs.counts().await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count jobs for the metrics");
                    None
                }
            };
            let detector = &state.detect.detections.detector;
            let ruleset = detector.version();
            let body = state
                .metrics
                .render(counts.as_deref(), &ruleset, detector.memory(), format);
            text(StatusCode::OK, format.content_type(), body)
        }
    }
}

/// Why the server is not ready, if it is not: the data directory must take a new file, the
/// metadata store and the blob store must answer, and this node's rules must be the
/// active ones. The directory is checked first: when it is gone (unmounted,
/// moved), the database fails too — but only once it needs to open a file, which depends on
/// its connections — and the directory is the cause an operator needs to see.
async fn ready(state: &AppState) -> Result<(), String> {
    let dir = state.config.data_dir.clone();
    let probe = tokio::task::spawn_blocking(move || {
        let path = dir.join(format!(".readyz-{}", uuid::Uuid::new_v4().simple()));
        std::fs::File::create_new(&path)?;
        std::fs::remove_file(&path)
    });
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("data directory not writable: {}", e.kind())),
        Ok(Err(e)) => return Err(format!("data directory check failed: {e}")),
        Err(_) => return Err("data directory: no answer in time".into()),
    }
    // A disk that still takes one small file may be too full for any upload.
    let dir = state.config.data_dir.clone();
    let min_free = state.config.limits.min_free_bytes;
    let free = tokio::task::spawn_blocking(move || free_bytes(&dir));
    match tokio::time::timeout(READY_TIMEOUT, free).await {
        Ok(Ok(Ok(free))) if free < min_free => {
            return Err(format!(
                "data directory: {} MiB free, below limits.min_free_bytes ({} MiB)",
                free >> 20,
                min_free >> 20
            ));
        }
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(e))) => {
            return Err(format!(
                "data directory: cannot read free space: {}",
                e.kind()
            ));
        }
        Ok(Err(e)) => return Err(format!("data directory check failed: {e}")),
        Err(_) => return Err("data directory: no answer in time".into()),
    }
    match tokio::time::timeout(READY_TIMEOUT, state.meta.jobs.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("database: {e}")),
        Err(_) => return Err("database: no answer in time".into()),
    }
    match tokio::time::timeout(READY_TIMEOUT, state.blobs.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("blob store: {e}")),
        Err(_) => return Err("blob store: no answer in time".into()),
    }
    // With several nodes, detections are made with the rules the nodes agree on.
    if !state.node.rules_current() {
        return Err("rules: this node's ruleset differs from the active one".into());
    }
    Ok(())
}

/// Bytes available to this (unprivileged) process on the file system of `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    text(status, "application/json", value.to_string())
}
