#![no_main]
//! Volcengine nta requests: an arbitrary SignURL (first line), `Host` / `Authorization` value
//! (second line) and JSON body (the rest) through the dialect's body parsers, the SignURL
//! classification and the request recognition. Nothing may panic, every error must render in
//! the envelope, and whatever parses must respect the documented bounds.

use hashscan_server::volc::error::VolcError;
use hashscan_server::volc::model::{
    MAX_QUERY_KEY, MAX_SIGN_URL, ResponseMetadata, parse_create, parse_get,
};
use hashscan_server::volc::sign_url::{SignUrl, classify};
use hashscan_server::volc::{self};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn render(e: &VolcError) {
    let meta = ResponseMetadata {
        request_id: "request-id".into(),
        action: "CreateFileDetection".into(),
        version: volc::VERSION.into(),
        region: volc::DEFAULT_REGION.into(),
    };
    let doc = meta.error(e);
    assert!(doc["ResponseMetadata"]["Error"]["Code"].is_string());
    assert!(e.code.status().is_client_error() || e.code.status().is_server_error());
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let url = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let host = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let body = lines.next().unwrap_or_default();

    match parse_create(body) {
        Ok(c) => assert!((1..=MAX_SIGN_URL).contains(&c.sign_url.chars().count())),
        Err(e) => render(&e),
    }
    match parse_get(body) {
        Ok(g) => assert!((1..=MAX_QUERY_KEY).contains(&g.query_key.chars().count())),
        Err(e) => render(&e),
    }

    let domains = vec!["myqcloud.com".to_string()];
    match classify(&url, Some(&host), &domains) {
        Ok(SignUrl::Own { host, path, .. }) => {
            assert!(!host.is_empty() && !host.contains('@'));
            assert!(path.starts_with('/'));
            assert!(url.trim_start().to_ascii_lowercase().starts_with("http"));
        }
        Ok(SignUrl::Remote(u)) => assert_eq!(u, url),
        Err(e) => render(&e),
    }

    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&host) {
        headers.insert("authorization", v);
    }
    let _ = volc::is_volc_parts(Some(&url), &headers);
});
