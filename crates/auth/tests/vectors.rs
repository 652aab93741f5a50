//! Every vector of `tests/data/signature-vectors.json` (a copy of the project's verified
//! `shared/specs/signature-vectors.json`, kept in the repository so that a clone alone runs
//! the tests): the signature and every published or derived intermediate string recomputed
//! from the inputs, then the request rebuilt (as decoded pairs and as the raw wire query) and
//! verified.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{Req, encode_query, keys};
use hashscan_auth::{AuthError, Scheme, Secret, Verified, aliyun_v2, aliyun_v3, cos, volc};
use serde_json::Value;

fn vectors_path() -> PathBuf {
    // The directory cargo runs the test for, not the one it was compiled in: checkouts at
    // other paths that share a target directory reuse an unchanged test binary.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("tests/data/signature-vectors.json")
}

fn load() -> Vec<Value> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("signature vectors not found at {} ({e})", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("signature-vectors.json is not JSON");
    doc["vectors"].as_array().expect("no vectors array").clone()
}

struct Vector<'a>(&'a Value);

impl Vector<'_> {
    fn name(&self) -> &str {
        self.0["name"].as_str().unwrap()
    }
    fn input(&self, key: &str) -> &str {
        self.0["inputs"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: inputs.{key} missing", self.name()))
    }
    fn pairs(&self, key: &str) -> Vec<(String, String)> {
        self.0["inputs"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{}: inputs.{key} missing", self.name()))
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
    fn names(&self, key: &str) -> Vec<String> {
        self.0["inputs"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{}: inputs.{key} missing", self.name()))
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    }
    fn secret(&self) -> Secret {
        Secret::new(self.input("secret"))
    }
    fn keys(&self) -> std::collections::HashMap<String, Secret> {
        keys(&[(self.input("access_key_id"), self.input("secret"))])
    }
    fn header(&self, name: &str) -> String {
        self.pairs("headers")
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("{}: no header {name}", self.name()))
            .1
    }
    /// The raw query as sent: `wire.query_string`, the query of `wire.request_line`, or the
    /// decoded pairs re-encoded.
    fn raw_query(&self) -> String {
        if let Some(q) = self.0["wire"]["query_string"].as_str() {
            return q.to_owned();
        }
        if let Some(line) = self.0["wire"]["request_line"].as_str() {
            let target = line.split(' ').nth(1).unwrap();
            return target.split_once('?').map_or("", |(_, q)| q).to_owned();
        }
        encode_query(&self.pairs("query"))
    }
    fn request(&self, extra_headers: &[(String, String)]) -> Req {
        let mut headers = self.pairs("headers");
        headers.extend_from_slice(extra_headers);
        Req {
            method: self.input("method").to_owned(),
            path: self.input("path").to_owned(),
            query: self.pairs("query"),
            raw_query: None,
            headers,
            body: self.input("body").as_bytes().to_vec(),
        }
    }

    /// Asserts that every value in `expected` and `derived` is among `computed` and equal to it:
    /// a field this test does not compute fails the test rather than going unchecked.
    fn check(&self, computed: &BTreeMap<&str, String>) {
        let mut checked = 0;
        for section in ["expected", "derived"] {
            let Some(obj) = self.0[section].as_object() else {
                continue;
            };
            for (field, want) in obj {
                let want = want.as_str().unwrap();
                let got = computed.get(field.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{}: {section}.{field} is not computed by this test",
                        self.name()
                    )
                });
                assert_eq!(got, want, "{}: {section}.{field}", self.name());
                checked += 1;
            }
        }
        assert!(checked > 0, "{}: nothing checked", self.name());
    }
}

fn assert_verified(v: &Vector<'_>, result: Result<Verified, AuthError>, scheme: Scheme, how: &str) {
    let verified = result.unwrap_or_else(|e| panic!("{} ({how}): {e:?}", v.name()));
    assert_eq!(verified.scheme, scheme, "{}", v.name());
    assert_eq!(
        verified.access_key_id,
        v.input("access_key_id"),
        "{} ({how})",
        v.name()
    );
}

#[test]
fn all_vectors_reproduce_and_verify() {
    let vectors = load();
    assert_eq!(vectors.len(), 10, "the spec has 10 vectors");
    let mut per_algorithm = BTreeMap::new();
    for value in &vectors {
        let v = Vector(value);
        let algorithm = value["algorithm"].as_str().unwrap();
        match algorithm {
            "cos-sha1" => check_cos(&v),
            "aliyun-v2-hmac-sha1" => check_aliyun_v2(&v),
            "aliyun-v3-acs3-hmac-sha256" => check_aliyun_v3(&v),
            "volc-hmac-sha256" => check_volc(&v),
            other => panic!("{}: unknown algorithm {other}", v.name()),
        }
        *per_algorithm.entry(algorithm.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(per_algorithm["cos-sha1"], 3);
    assert_eq!(per_algorithm["aliyun-v2-hmac-sha1"], 2);
    assert_eq!(per_algorithm["aliyun-v3-acs3-hmac-sha256"], 3);
    assert_eq!(per_algorithm["volc-hmac-sha256"], 2);
}

fn check_cos(v: &Vector<'_>) {
    let signed_params = v.names("signed_param_names");
    let signed_headers = v.names("signed_header_names");
    let params: Vec<_> = v
        .pairs("query")
        .into_iter()
        .filter(|(k, _)| signed_params.contains(&k.to_ascii_lowercase()))
        .collect();
    let headers: Vec<_> = v
        .pairs("headers")
        .into_iter()
        .filter(|(k, _)| signed_headers.contains(&k.to_ascii_lowercase()))
        .collect();
    let sign_time = cos::KeyTime::parse(v.input("sign_time")).unwrap();
    let key_time = cos::KeyTime::parse(v.input("key_time")).unwrap();
    let signed = cos::sign(
        &v.secret(),
        &cos::SignRequest {
            method: v.input("method"),
            path: v.input("path"),
            params: &params,
            headers: &headers,
            sign_time: &sign_time,
            key_time: &key_time,
        },
    );
    let ak = v.input("access_key_id");
    let computed = BTreeMap::from([
        ("sign_key", signed.sign_key.clone()),
        (
            "http_string_sha1",
            hex::encode(<sha1::Sha1 as sha1::Digest>::digest(
                signed.http_string.as_bytes(),
            )),
        ),
        ("header_list", signed.header_list.clone()),
        ("url_param_list", signed.url_param_list.clone()),
        ("signature", signed.signature.clone()),
        ("http_parameters", signed.http_parameters.clone()),
        ("http_headers", signed.http_headers.clone()),
        ("http_string", signed.http_string.clone()),
        ("string_to_sign", signed.string_to_sign.clone()),
        ("authorization", signed.authorization(ak)),
    ]);
    v.check(&computed);

    // The parser reads back what the signer wrote.
    let parsed = cos::parse_authorization(&signed.authorization(ak)).unwrap();
    assert_eq!(parsed.access_key_id, ak);
    assert_eq!(parsed.header_list, signed_headers);
    assert_eq!(parsed.url_param_list, signed_params);
    assert_eq!(hex::encode(parsed.signature), signed.signature);

    let keys = v.keys();
    let now = key_time.start() + 1;
    let opts = cos::Options::default();
    let auth_header = [("Authorization".to_owned(), signed.authorization(ak))];

    // Header form, decoded and raw query.
    let mut req = v.request(&auth_header);
    assert_verified(
        v,
        cos::verify(&req.parts(), &keys, now, &opts),
        Scheme::Cos,
        "header, decoded query",
    );
    req.raw_query = Some(v.raw_query());
    assert_verified(
        v,
        cos::verify(&req.parts(), &keys, now, &opts),
        Scheme::Cos,
        "header, raw query",
    );

    // Presigned-URL form: the q-* fields appended to the query, no Authorization header.
    let mut req = v.request(&[]);
    let mut query = req.query.clone();
    query.extend(
        signed
            .fields(ak)
            .into_iter()
            .map(|(k, val)| (k.to_owned(), val)),
    );
    req.raw_query = Some(encode_query(&query));
    assert_verified(
        v,
        cos::verify(&req.parts(), &keys, now, &opts),
        Scheme::Cos,
        "presigned query",
    );
    req.raw_query = None;
    req.query = query;
    assert_verified(
        v,
        cos::verify(&req.parts(), &keys, now, &opts),
        Scheme::Cos,
        "presigned decoded query",
    );

    // And the published Authorization (when there is one) verifies as is.
    for section in ["expected", "derived"] {
        if let Some(published) = v.0[section]["authorization"].as_str() {
            let req = v.request(&[("Authorization".to_owned(), published.to_owned())]);
            assert_verified(
                v,
                cos::verify(&req.parts(), &keys, now, &opts),
                Scheme::Cos,
                "published authorization",
            );
        }
    }
}

fn check_aliyun_v2(v: &Vector<'_>) {
    let query = v.pairs("query");
    let signed = aliyun_v2::sign(&v.secret(), v.input("method"), &query);
    let computed = BTreeMap::from([
        ("signature", signed.signature.clone()),
        (
            "canonicalized_query_string",
            signed.canonicalized_query_string.clone(),
        ),
        ("string_to_sign", signed.string_to_sign.clone()),
    ]);
    v.check(&computed);

    let keys = v.keys();
    let now = time(v.input("timestamp")) + 1;
    let opts = aliyun_v2::Options::default();
    let mut req = v.request(&[]);
    req.query
        .push(("Signature".to_owned(), signed.signature.clone()));
    let verified = aliyun_v2::verify(&req.parts(), &keys, now, &opts);
    assert_verified(v, verified.clone(), Scheme::AliyunV2, "decoded query");
    assert_eq!(
        verified.unwrap().nonce.as_deref(),
        Some(v.input("nonce")),
        "{}",
        v.name()
    );

    // The raw wire query, with the Signature as captured or appended encoded.
    let mut raw = v.raw_query();
    if !raw.contains("Signature=") {
        raw.push_str(&format!(
            "&Signature={}",
            hashscan_auth::encode::rfc3986(&signed.signature)
        ));
    }
    req.raw_query = Some(raw);
    assert_verified(
        v,
        aliyun_v2::verify(&req.parts(), &keys, now, &opts),
        Scheme::AliyunV2,
        "raw query",
    );
}

fn check_aliyun_v3(v: &Vector<'_>) {
    let query = v.pairs("query");
    let headers = v.pairs("headers");
    let signed_names = v.names("signed_header_names");
    let payload_hash = v.header("x-acs-content-sha256");
    assert_eq!(
        payload_hash,
        hex::encode(common::sha256(v.input("body").as_bytes())),
        "{}: x-acs-content-sha256 is the body hash",
        v.name()
    );
    let signed = aliyun_v3::sign(
        &v.secret(),
        &aliyun_v3::SignRequest {
            method: v.input("method"),
            path: v.input("path"),
            query: &query,
            headers: &headers,
            signed_headers: &signed_names,
            payload_hash: &payload_hash,
        },
    )
    .unwrap();
    let ak = v.input("access_key_id");
    let computed = BTreeMap::from([
        (
            "canonical_query_string",
            signed.canonical_query_string.clone(),
        ),
        ("canonical_request", signed.canonical_request.clone()),
        (
            "hashed_canonical_request",
            signed.hashed_canonical_request.clone(),
        ),
        ("string_to_sign", signed.string_to_sign.clone()),
        ("signed_headers", signed.signed_headers.clone()),
        ("signature", signed.signature.clone()),
        ("authorization", signed.authorization(ak)),
    ]);
    v.check(&computed);

    let keys = v.keys();
    let now = time(v.input("timestamp")) - 30;
    let opts = aliyun_v3::Options::default();
    let mut req = v.request(&[("Authorization".to_owned(), signed.authorization(ak))]);
    let verified = aliyun_v3::verify(&req.parts(), &keys, now, &opts);
    assert_verified(v, verified.clone(), Scheme::AliyunV3, "decoded query");
    assert_eq!(
        verified.unwrap().nonce.as_deref(),
        Some(v.input("nonce")),
        "{}",
        v.name()
    );
    req.raw_query = Some(v.raw_query());
    assert_verified(
        v,
        aliyun_v3::verify(&req.parts(), &keys, now, &opts),
        Scheme::AliyunV3,
        "raw query",
    );
}

fn check_volc(v: &Vector<'_>) {
    let query = v.pairs("query");
    let headers = v.pairs("headers");
    let signed_names = v.names("signed_header_names");
    let payload_hash = v.header("x-content-sha256");
    assert_eq!(
        payload_hash,
        hex::encode(common::sha256(v.input("body").as_bytes())),
        "{}: X-Content-Sha256 is the body hash",
        v.name()
    );
    let signed = volc::sign(
        &v.secret(),
        &volc::SignRequest {
            method: v.input("method"),
            path: v.input("path"),
            query: &query,
            headers: &headers,
            signed_headers: &signed_names,
            x_date: v.input("date"),
            region: v.input("region"),
            service: v.input("service"),
            payload_hash: &payload_hash,
        },
    )
    .unwrap();
    let ak = v.input("access_key_id");
    let computed = BTreeMap::from([
        (
            "canonical_query_string",
            signed.canonical_query_string.clone(),
        ),
        ("canonical_request", signed.canonical_request.clone()),
        (
            "hashed_canonical_request",
            signed.hashed_canonical_request.clone(),
        ),
        ("credential_scope", signed.credential_scope.clone()),
        ("string_to_sign", signed.string_to_sign.clone()),
        ("signing_key_hex", signed.signing_key_hex.clone()),
        ("signed_headers", signed.signed_headers.clone()),
        ("signature", signed.signature.clone()),
        ("authorization", signed.authorization(ak)),
    ]);
    v.check(&computed);

    let keys = v.keys();
    let now = volc_time(v.input("date")) + 120;
    let opts = volc::Options {
        service: Some(v.input("service").to_owned()),
        region: Some(v.input("region").to_owned()),
        ..volc::Options::default()
    };
    let mut req = v.request(&[("Authorization".to_owned(), signed.authorization(ak))]);
    let verified = volc::verify(&req.parts(), &keys, now, &opts);
    assert_verified(v, verified.clone(), Scheme::Volc, "decoded query");
    let verified = verified.unwrap();
    assert_eq!(verified.region.as_deref(), Some(v.input("region")));
    assert_eq!(verified.service.as_deref(), Some(v.input("service")));
    req.raw_query = Some(v.raw_query());
    assert_verified(
        v,
        volc::verify(&req.parts(), &keys, now, &opts),
        Scheme::Volc,
        "raw query",
    );
}

fn time(acs_date: &str) -> i64 {
    hashscan_auth::time::parse_acs_date(acs_date).unwrap()
}

fn volc_time(x_date: &str) -> i64 {
    hashscan_auth::time::parse_x_date(x_date).unwrap()
}
