#![no_main]
//! COS: the Authorization header and the presigned-URL query through parse and verify.

mod common;

use hashscan_auth::cos;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::split(data);
    let _ = cos::parse_authorization(&input.auth);
    let opts = cos::Options::default();
    for with_auth in [true, false] {
        let headers = common::headers(&input, with_auth);
        let req = common::parts("GET", &input, &headers);
        for now in common::NOWS {
            let _ = cos::verify(&req, &common::any_key, now, &opts);
        }
    }
});
