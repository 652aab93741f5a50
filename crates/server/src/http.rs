//! The one HTTP port: request ids, logging, and the choice of dialect for each request.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request};
use axum::response::Response;
use base64::Engine as _;
use rand::Rng;
use tracing::Instrument;

use crate::AppState;

/// Lets the signature verifiers read an `http::HeaderMap` without copying it.
pub struct HeaderMapSource<'a>(pub &'a HeaderMap);

impl hashscan_auth::HeaderSource for HeaderMapSource<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for v in self.0.get_all(name) {
            if let Ok(s) = std::str::from_utf8(v.as_bytes()) {
                f(s);
            }
        }
    }
}

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

/// Whether the client sent `Expect: 100-continue`: it sends the body only once the server
/// starts reading it (hyper then answers `100 Continue`), so an error decided from the head
/// alone must be answered without reading the body.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// A request id in the shape COS uses: base64 of `<hex seconds>_<hex random>`.
fn new_request_id() -> String {
    let random: u64 = rand::rng().random();
    let raw = format!("{:x}_{:016x}", now_unix(), random);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix milliseconds as an HTTP date (`Last-Modified`).
pub fn http_date(ms: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

/// Unix milliseconds as ISO 8601 with milliseconds, UTC (`2019-05-24T10:56:40.000Z`), as
/// object listings carry it.
pub fn iso8601_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(iso8601_ms(1_558_695_400_123), "2019-05-24T10:56:40.123Z");
        assert_eq!(
            http_date(1_558_695_400_123),
            "Fri, 24 May 2019 10:56:40 GMT"
        );
    }

    #[test]
    fn request_ids_are_distinct() {
        assert_ne!(new_request_id(), new_request_id());
    }
}
