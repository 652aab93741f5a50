//! Request fixtures shared by the integration tests: an owned request that lends itself out as
//! a `RequestParts`, and one correctly signed request per scheme.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use hashscan_auth::encode::rfc3986;
use hashscan_auth::{Payload, Query, RequestParts, Secret};

/// An owned request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// Decoded query pairs (used when `raw_query` is `None`).
    pub query: Vec<(String, String)>,
    /// The raw query as a server would pass it.
    pub raw_query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn parts(&self) -> RequestParts<'_> {
        let query = match &self.raw_query {
            Some(raw) => Query::Raw(raw),
            None => Query::Decoded(&self.query),
        };
        RequestParts::new(&self.method, &self.path, query, &self.headers)
            .with_body(Payload::Bytes(&self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value.to_owned(),
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    pub fn set_param(&mut self, name: &str, value: &str) {
        assert!(self.raw_query.is_none(), "set_param on a raw query");
        match self.query.iter_mut().find(|(k, _)| k == name) {
            Some(p) => p.1 = value.to_owned(),
            None => self.query.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// The wire form of decoded pairs, RFC 3986-encoded (so no `+` appears).
pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn keys(pairs: &[(&str, &str)]) -> HashMap<String, Secret> {
    pairs
        .iter()
        .map(|(k, s)| (k.to_string(), Secret::new(*s)))
        .collect()
}

pub fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub const NOW: i64 = 1_729_578_215; // 2024-10-22T06:23:35Z
pub const AK: &str = "AKIDtest";
pub const SK: &str = "sktest";

pub fn key_store() -> HashMap<String, Secret> {
    keys(&[(AK, SK)])
}

/// A COS request signed the way cos-python-sdk-v5 signs `file_hash`: Authorization header,
/// `host` without port while the Host header has one, an unsigned `User-Agent`, an unsigned
/// extra parameter.
pub fn cos_request() -> Req {
    use hashscan_auth::cos::{KeyTime, SignRequest, sign};
    let host = "examplebucket-1250000000.cos.ap-chongqing.myqcloud.com";
    let params = s(&[
        ("ci-process", "filehash"),
        ("type", "md5"),
        ("addtoheader", "false"),
    ]);
    let signed_headers = s(&[("Host", host), ("x-cos-meta-note", "a b/c")]);
    let window = KeyTime::new(NOW - 60, NOW + 3600);
    let signed = sign(
        &Secret::new(SK),
        &SignRequest {
            method: "GET",
            path: "/input/test file+1.mp4",
            params: &params,
            headers: &signed_headers,
            sign_time: &window,
            key_time: &window,
        },
    );
    let mut query = params;
    query.push(("extra".into(), "unsigned".into()));
    Req {
        method: "GET".into(),
        path: "/input/test file+1.mp4".into(),
        query,
        raw_query: None,
        headers: s(&[
            ("Host", &format!("{host}:8080")),
            ("X-Cos-Meta-Note", "a b/c"),
            ("User-Agent", "cos-python-sdk-v5.1.9.44"),
            ("Authorization", &signed.authorization(AK)),
        ]),
        body: Vec::new(),
    }
}

/// An Alibaba V3 request as alibabacloud-tea-openapi sends it, with a query value holding
/// spaces and reserved characters, and a non-empty body.
pub fn aliyun_v3_request() -> Req {
    use hashscan_auth::aliyun_v3::{SignRequest, sign};
    let body = b"{\"a\":1}".to_vec();
    let body_hash = hex::encode(sha256(&body));
    let query = s(&[
        ("DownloadUrl", "https://example.com/a b?x=1&y=2*"),
        ("HashKey", "0a212417e65c26ff133cfff28f6c1234"),
        ("Type", "0"),
    ]);
    let mut headers = s(&[
        ("host", "127.0.0.1:18765"),
        ("x-acs-version", "2018-12-03"),
        ("x-acs-action", "CreateFileDetect"),
        ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7"),
        ("x-acs-date", "2024-10-22T06:23:35Z"),
        ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ("accept", "application/json"),
        ("x-acs-content-sha256", &body_hash),
        ("Content-Length", "7"),
    ]);
    let signed_names: Vec<String> = [
        "accept",
        "host",
        "user-agent",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ]
    .iter()
    .map(|n| n.to_string())
    .collect();
    let signed = sign(
        &Secret::new(SK),
        &SignRequest {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            signed_headers: &signed_names,
            payload_hash: &body_hash,
        },
    )
    .unwrap();
    headers.push(("Authorization".into(), signed.authorization(AK)));
    Req {
        method: "POST".into(),
        path: "/".into(),
        query,
        raw_query: None,
        headers,
        body,
    }
}

/// An Alibaba V2 request as the tea SDK sends it with `signature_algorithm='v2'`.
pub fn aliyun_v2_request() -> Req {
    let mut query = s(&[
        ("Action", "CreateFileDetect"),
        ("Format", "json"),
        ("Version", "2018-12-03"),
        ("Timestamp", "2024-10-22T06:23:35Z"),
        ("SignatureNonce", "3156853299f313e23d1673dc12e1703d"),
        ("DownloadUrl", "https://example.com/a b?x=1&y=2*"),
        ("Type", "0"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", AK),
    ]);
    let signed = hashscan_auth::aliyun_v2::sign(&Secret::new(SK), "POST", &query);
    query.push(("Signature".into(), signed.signature));
    Req {
        method: "POST".into(),
        path: "/".into(),
        query,
        raw_query: None,
        headers: s(&[
            ("host", "127.0.0.1:18765"),
            ("x-acs-action", "CreateFileDetect"),
        ]),
        body: Vec::new(),
    }
}

/// A Volcengine request as volcenginesdk-core sends `GetFileDetection`.
pub fn volc_request() -> Req {
    volc_request_signing(&[
        "content-type",
        "host",
        "x-content-sha256",
        "x-date",
        "x-sdk-invocation-id",
        "x-sdk-request",
    ])
}

/// The Volcengine request of [`volc_request`], signed over the headers `names` (sorted,
/// lower-case).
pub fn volc_request_signing(names: &[&str]) -> Req {
    use hashscan_auth::volc::{SignRequest, sign};
    let body = br#"{"QueryKey": "d41d8cd98f00b204e9800998ecf8427e"}"#.to_vec();
    let body_hash = hex::encode(sha256(&body));
    let query = s(&[("Action", "GetFileDetection"), ("Version", "2024-07-30")]);
    let mut headers = s(&[
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("User-Agent", "volcstack-python-sdk/5.0.54"),
        (
            "X-Sdk-Invocation-Id",
            "00000000-0000-4000-8000-000000000000",
        ),
        ("X-Sdk-Request", "attempt=1; max=4"),
        ("Host", "127.0.0.1:18765"),
        ("X-Date", "20241022T062335Z"),
        ("X-Content-Sha256", &body_hash),
    ]);
    let signed_names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let signed = sign(
        &Secret::new(SK),
        &SignRequest {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            signed_headers: &signed_names,
            x_date: "20241022T062335Z",
            region: "cn-beijing",
            service: "nta",
            payload_hash: &body_hash,
        },
    )
    .unwrap();
    headers.push(("Authorization".into(), signed.authorization(AK)));
    Req {
        method: "POST".into(),
        path: "/".into(),
        query,
        raw_query: None,
        headers,
        body,
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
