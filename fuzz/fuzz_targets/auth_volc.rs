#![no_main]
//! Volcengine: the HMAC-SHA256 Authorization header, headers and query through parse and verify.

mod common;

use hashscan_auth::volc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::split(data);
    let _ = volc::parse_authorization(&input.auth);
    let headers = common::headers(&input, true);
    let req = common::parts("POST", &input, &headers);
    let scoped = volc::Options {
        service: Some("nta".to_owned()),
        ..volc::Options::default()
    };
    for now in common::NOWS {
        let _ = volc::verify(&req, &common::any_key, now, &volc::Options::default());
        let _ = volc::verify(&req, &common::any_key, now, &scoped);
    }
});
