//! No input makes a scheme panic, and nothing random authenticates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOW, Req, key_store};
use hashscan_auth::{KeyLookup, Secret, aliyun_v2, aliyun_v3, cos, volc};
use proptest::prelude::*;

/// Accepts every access key id, so that random input reaches the signature computation.
fn any_key(_: &str) -> Option<Secret> {
    Some(Secret::new("s"))
}

fn all_schemes(req: &Req, keys: &dyn KeyLookup, now: i64) -> [bool; 4] {
    let p = req.parts();
    [
        cos::verify(&p, keys, now, &cos::Options::default()).is_ok(),
        aliyun_v3::verify(&p, keys, now, &aliyun_v3::Options::default()).is_ok(),
        aliyun_v2::verify(&p, keys, now, &aliyun_v2::Options::default()).is_ok(),
        volc::verify(&p, keys, now, &volc::Options::default()).is_ok(),
    ]
}

/// Text that looks like credential material often enough to get past the first checks.
fn credentialish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,300}",
        "(q-sign-algorithm=sha1|q-ak=[a-z]{1,3}|q-sign-time=[0-9;]{1,25}|q-key-time=[0-9;]{1,25}|q-header-list=[a-z;-]{0,20}|q-url-param-list=[a-z;%]{0,20}|q-signature=[0-9a-f]{38,42}|&|=)*",
        "ACS3-HMAC-SHA256 (Credential=[a-zA-Z/]{0,10}|SignedHeaders=[a-z;-]{0,40}|Signature=[0-9a-f]{60,66}|,| )*",
        "HMAC-SHA256 (Credential=[a-zA-Z0-9/]{0,30}|SignedHeaders=[a-z;-]{0,40}|Signature=[0-9a-f]{60,66}|, |,)*",
    ]
}

fn queryish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,300}",
        "((q-[a-z-]{1,16}|Signature|SignatureMethod|SignatureVersion|Timestamp|SignatureNonce|AccessKeyId|[A-Za-z]{1,5})=[A-Za-z0-9%+=;:.-]{0,30}&?){0,12}",
    ]
}

fn headersish() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("host".to_owned()),
                Just("x-date".to_owned()),
                Just("x-acs-date".to_owned()),
                Just("x-acs-content-sha256".to_owned()),
                Just("x-content-sha256".to_owned()),
                Just("content-type".to_owned()),
                "[a-z-]{1,12}",
            ],
            any::<String>(),
        ),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_requests_never_panic_nor_verify(
        auth in credentialish(),
        query in queryish(),
        headers in headersish(),
        method in "[A-Za-z]{0,7}",
        path in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let mut headers = headers;
        headers.push(("Authorization".to_owned(), auth));
        let req = Req {
            method,
            path,
            query: vec![],
            raw_query: Some(query),
            headers,
            body,
        };
        let ok = all_schemes(&req, &any_key, now);
        prop_assert_eq!(ok, [false; 4]);
    }

    #[test]
    fn mutated_valid_requests_never_panic(
        which in 0usize..4,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        delete in any::<bool>(),
        now_offset in -5000i64..5000,
    ) {
        let mut req = match which {
            0 => common::cos_request(),
            1 => common::aliyun_v3_request(),
            2 => common::aliyun_v2_request(),
            _ => common::volc_request(),
        };
        // Mutate the credential: the Authorization header, or V2's Signature parameter.
        let target = if which == 2 {
            &mut req.query.iter_mut().find(|(k, _)| k == "Signature").unwrap().1
        } else {
            &mut req.headers.iter_mut().find(|(k, _)| k == "Authorization").unwrap().1
        };
        let mut bytes = std::mem::take(target).into_bytes();
        let i = pos.index(bytes.len());
        if delete {
            bytes.remove(i);
        } else {
            bytes[i] = byte;
        }
        *target = String::from_utf8_lossy(&bytes).into_owned();
        let _ = all_schemes(&req, &key_store(), NOW + now_offset);
    }
}
