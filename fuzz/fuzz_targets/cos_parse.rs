#![no_main]
//! COS request parsing: routing (host and path), Range, Content-MD5, x-cos-copy-source, the
//! conditional headers, the DELETE Multiple Objects, tagging and Complete Multipart Upload
//! bodies, the virus-detection request, POST policy documents, the x-cos-tagging header,
//! x-cos-copy-source-range, over arbitrary text. Nothing may panic; a parsed range must lie inside
//! the object; conditions must evaluate.

use hashscan_server::cos::delete_xml::{MAX_KEYS, parse_delete};
use hashscan_server::cos::multipart_xml::parse_complete;
use hashscan_server::cos::virus_xml::{VirusInput, parse_virus_request};
use hashscan_server::cos::tagging_xml::{parse_tagging, parse_tagging_header};
use hashscan_server::cos::parse::{
    RangeSpec, parse_conditions, parse_content_md5, parse_copy_range, parse_copy_source,
    parse_range,
};
use hashscan_server::route::resolve;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let host = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let domains = vec!["myqcloud.com".to_string()];
    let _ = resolve(Some(host), path, &domains);
    let _ = resolve(None, path, &domains);
    let _ = parse_copy_source(rest, &domains);
    let _ = parse_content_md5(rest);
    if let Ok(d) = parse_delete(rest.as_bytes()) {
        assert!(!d.keys.is_empty() && d.keys.len() <= MAX_KEYS);
        assert!(d.keys.iter().all(|k| !k.is_empty()));
    }
    let _ = parse_delete(data);
    let _ = parse_tagging(data);
    if let Ok(parts) = parse_complete(data) {
        assert!(!parts.is_empty() && parts.len() <= 10_000);
        assert!(parts.iter().all(|(_, etag)| !etag.is_empty()));
    }
    if let Ok(v) = parse_virus_request(data) {
        match v.input {
            VirusInput::Object(k) => assert!(!k.is_empty()),
            VirusInput::Url(u) => assert!(u.to_ascii_lowercase().starts_with("http")),
        }
    }
    // A POST policy document against form values taken from the text.
    let value = |_: &str| Some(rest.to_string());
    if let Ok(p) = hashscan_server::form::check_policy(data, &value, &["bucket"], 0) {
        assert!(p.max_size.is_none_or(|max| max >= p.min_size));
    }
    if let Some((first, last)) = parse_copy_range(rest) {
        assert!(first <= last);
    }
    let _ = parse_tagging_header(rest);
    let conditions = parse_conditions(|_| Some(rest), "");
    if let Some(tags) = &conditions.if_match {
        assert!(tags.iter().all(|t| !t.is_empty()));
    }
    for size in [0u64, 1, 100, u64::MAX] {
        if let RangeSpec::Partial(start, end) = parse_range(rest, size) {
            assert!(start <= end && end < size);
        }
    }
});
