//! Turns fuzz bytes into a request: the first line is the `Authorization` header value, the
//! second the raw query, the following lines `name:value` headers up to an empty line, and the
//! rest the body. Every access key id is known, so inputs reach the signature computation.
#![allow(dead_code)]

use hashscan_auth::{Payload, Query, RequestParts, Secret};

pub struct Input {
    pub auth: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn split(data: &[u8]) -> Input {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let auth = lines.next().unwrap_or("").to_owned();
    let query = lines.next().unwrap_or("").to_owned();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    Input {
        auth,
        query,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

pub fn any_key(_: &str) -> Option<Secret> {
    Some(Secret::new("fuzz-secret"))
}

/// Verification times worth trying: a fixed one and the extremes.
pub const NOWS: [i64; 3] = [1_729_578_215, i64::MIN, i64::MAX];

/// The request with the `Authorization` header added (when `with_auth`).
pub fn headers(input: &Input, with_auth: bool) -> Vec<(String, String)> {
    let mut h = input.headers.clone();
    if with_auth {
        h.push(("Authorization".to_owned(), input.auth.clone()));
    }
    h
}

// `&Vec` rather than `&[_]`: a bare slice is unsized and cannot become `&dyn HeaderSource`.
#[allow(clippy::ptr_arg)]
pub fn parts<'a>(
    method: &'a str,
    input: &'a Input,
    headers: &'a Vec<(String, String)>,
) -> RequestParts<'a> {
    RequestParts::new(method, "/", Query::Raw(&input.query), headers)
        .with_body(Payload::Bytes(&input.body))
}
