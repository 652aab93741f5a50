//! Wire helpers every dialect shares: reading headers for the signature verifiers, the
//! `Expect: 100-continue` rule, and the time formats the APIs put on the wire. Below every
//! dialect, so that none needs another's.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;

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

/// Whether the client sent `Expect: 100-continue`: it sends the body only once the server
/// starts reading it (hyper then answers `100 Continue`), so an error decided from the head
/// alone must be answered without reading the body.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
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
}
