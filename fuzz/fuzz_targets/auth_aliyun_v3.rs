#![no_main]
//! Alibaba V3: the ACS3 Authorization header, headers and query through parse and verify.

mod common;

use hashscan_auth::aliyun_v3;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::split(data);
    let _ = aliyun_v3::parse_authorization(&input.auth);
    let headers = common::headers(&input, true);
    let req = common::parts("POST", &input, &headers);
    let _ = aliyun_v3::is_present(&req);
    for now in common::NOWS {
        let _ = aliyun_v3::verify(&req, &common::any_key, now, &aliyun_v3::Options::default());
    }
});
