#![no_main]
//! Sas RPC parameters: an arbitrary query string (first line), `x-acs-action` /
//! `x-acs-version` header values (second and third lines) and a form body (the rest) through
//! `RpcRequest` parsing (query alone, and query with the body as a form), its validation under
//! both signature schemes, and every typed request parser. Nothing may panic, every error must
//! render, and whatever parses must respect the documented bounds.

use hashscan_auth::Scheme;
use hashscan_server::aliyun::error::SasError;
use hashscan_server::aliyun::params::{
    Action, MAX_HASH_KEYS, MAX_UPLOAD_ITEMS, Params, RpcRequest, SasRequest,
};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn is_hash_key(k: &str) -> bool {
    (k.len() == 32 || k.len() == 64) && k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check(r: &SasRequest) {
    match r {
        SasRequest::CreateFileDetectUploadUrl(u) => {
            assert!(!u.items.is_empty() && u.items.len() <= MAX_UPLOAD_ITEMS);
            assert!(u.items.iter().all(|i| is_hash_key(&i.hash_key)));
        }
        SasRequest::CreateFileDetect(c) => {
            assert!(is_hash_key(&c.hash_key));
            assert!(c.oss_key.is_some() != c.download_url.is_some());
            assert!(c.max_layer.is_none_or(|n| (1..=5).contains(&n)));
            assert!(c.max_file_count.is_none_or(|n| (1..=1000).contains(&n)));
        }
        SasRequest::GetFileDetectResult(g) => {
            assert!(!g.hash_keys.is_empty() && g.hash_keys.len() <= MAX_HASH_KEYS);
            assert!(g.hash_keys.iter().all(|k| is_hash_key(k)));
        }
        SasRequest::ListCompressFileDetectResult(l) => {
            assert!(is_hash_key(&l.hash_key));
            assert!(l.current_page >= 1 && (1..=100).contains(&l.page_size));
        }
        SasRequest::GetFileDetectApiInvokeInfo(_) => {}
    }
}

fn render(e: &SasError) {
    let _ = e.response("request-id", "tds.aliyuncs.com");
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(4, |&b| b == b'\n');
    let query = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let mut headers = HeaderMap::new();
    for (name, value) in ["x-acs-action", "x-acs-version"]
        .into_iter()
        .zip(lines.by_ref())
    {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(name, v);
        }
    }
    let body = lines.next().unwrap_or_default();

    match Params::from_query(&query) {
        Ok(params) => {
            for action in Action::ALL {
                match SasRequest::parse(action, &params) {
                    Ok(r) => check(&r),
                    Err(e) => render(&e),
                }
            }
            for name in ["HashKeyList", "HashKeyContextList", "Type"] {
                let _ = params.list(name, 100);
                let _ = params.objects(name, 100);
                let _ = params.bool(name);
                let _ = params.int_in(name, i64::MIN..=i64::MAX);
            }
        }
        Err(e) => render(&e),
    }

    let mut parsed = vec![RpcRequest::from_parts(&query, &headers)];
    if let Ok(uri) = format!("/?{query}").parse::<http::Uri>() {
        let mut form = headers.clone();
        form.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        parsed.push(RpcRequest::parse(&uri, &form, body));
    }
    for result in parsed {
        match result {
            Ok(req) => {
                for scheme in [Scheme::AliyunV3, Scheme::AliyunV2] {
                    match req.validate(scheme) {
                        Ok(r) => check(&r),
                        Err(e) => render(&e),
                    }
                }
            }
            Err(e) => render(&e),
        }
    }
});
