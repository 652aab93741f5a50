//! The one HTTP port: request ids, logging, and the choice of dialect for each request.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request};
use axum::response::Response;
use base64::Engine as _;
use rand::Rng;
use tracing::Instrument;

use crate::AppState;

/// The handler of every request.
pub async fn entry(State(state): State<AppState>, req: Request<Body>) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("request", id = %request_id);
    async move {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let probe = crate::metrics::Probe::of(&req);
        let (dialect, mut response) = if let Some(ep) = crate::health::endpoint(&req, &state) {
            ("ops", crate::health::handle(&state, ep, req).await)
        } else if crate::volc::is_volc(&req) {
            ("volc", crate::volc::handle(&state, req, &request_id).await)
        } else if crate::native::is_native(&req, &state.config.domains) {
            (
                "native",
                crate::native::handle(&state, req, &request_id).await,
            )
        } else if req.uri().path() == crate::aliyun::actions::UPLOAD_PATH {
            (
                "aliyun-upload",
                crate::aliyun::actions::handle_upload(&state, req, &request_id).await,
            )
        } else if crate::aliyun::actions::is_aliyun(&req) {
            (
                "aliyun",
                crate::aliyun::actions::handle(&state, req, &request_id).await,
            )
        } else {
            ("cos", crate::cos::handle(&state, req, &request_id).await)
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-cos-request-id", v);
        }
        // Objects are served with the type their uploader chose; a browser must not guess
        // another (an uploaded script "sniffed" as HTML).
        headers.insert(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if method == axum::http::Method::HEAD {
            // hyper sends no body for HEAD; tell the header-case layer (see wire_case).
            headers.insert(
                crate::wire_case::NO_BODY_MARKER,
                HeaderValue::from_static("1"),
            );
        }
        let took = started.elapsed();
        let status = response.status().as_u16();
        state.metrics.request(dialect, &probe, status, took);
        tracing::info!(
            dialect,
            %method,
            path,
            status,
            ms = took.as_millis() as u64,
            "request"
        );
        response
    }
    .instrument(span)
    .await
}

/// A request id in the shape COS uses: base64 of `<hex seconds>_<hex random>`.
fn new_request_id() -> String {
    let random: u64 = rand::rng().random();
    let raw = format!("{:x}_{:016x}", crate::wire::now_unix(), random);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct() {
        assert_ne!(new_request_id(), new_request_id());
    }
}
