#![no_main]
//! Alibaba V2: the query string (and a form body) through parse and verify.

mod common;

use hashscan_auth::aliyun_v2;
use hashscan_auth::encode::{Plus, decode_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::split(data);
    let pairs = decode_query(&input.query, Plus::Space);
    let _ = aliyun_v2::parse_params(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let headers = common::headers(&input, false);
    let req = common::parts("POST", &input, &headers);
    let _ = aliyun_v2::is_present(&req);
    for now in common::NOWS {
        let _ = aliyun_v2::verify(&req, &common::any_key, now, &aliyun_v2::Options::default());
    }
});
