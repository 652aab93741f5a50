//! What each scheme must refuse, and the COS/Alibaba request-shape rules it must accept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{AK, NOW, Req, SK, encode_query, key_store, keys, s};
use hashscan_auth::{AuthError, Secret, aliyun_v2, aliyun_v3, cos, volc};

// ---------------------------------------------------------------------------------------------
// helpers

fn cos_verify(req: &Req) -> Result<hashscan_auth::Verified, AuthError> {
    cos::verify(&req.parts(), &key_store(), NOW, &cos::Options::default())
}
fn v3_verify(req: &Req) -> Result<hashscan_auth::Verified, AuthError> {
    aliyun_v3::verify(
        &req.parts(),
        &key_store(),
        NOW,
        &aliyun_v3::Options::default(),
    )
}
fn v2_verify(req: &Req) -> Result<hashscan_auth::Verified, AuthError> {
    aliyun_v2::verify(
        &req.parts(),
        &key_store(),
        NOW,
        &aliyun_v2::Options::default(),
    )
}
fn volc_opts() -> volc::Options {
    volc::Options {
        service: Some("nta".into()),
        ..volc::Options::default()
    }
}
fn volc_verify(req: &Req) -> Result<hashscan_auth::Verified, AuthError> {
    volc::verify(&req.parts(), &key_store(), NOW, &volc_opts())
}

/// Flips one hex digit of the value after `marker` in `text`.
fn flip_hex_after(text: &str, marker: &str) -> String {
    let at = text.find(marker).unwrap() + marker.len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

fn with_auth(mut req: Req, auth: &str) -> Req {
    req.set_header("Authorization", auth);
    req
}

/// Malformed variants of a valid Authorization header value.
fn malformed_variants(valid: &str) -> Vec<String> {
    let mut out = vec![
        String::new(),
        " ".into(),
        "garbage".into(),
        "\u{0}\u{1}\u{2}".into(),
        format!("{valid}é"),
        format!("é{valid}"),
        "x".repeat(100_000),
        format!("{valid}{}", "a".repeat(20_000)),
    ];
    // Every truncation.
    for i in 0..valid.len() {
        out.push(valid[..i].to_owned());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// fixtures are valid

#[test]
fn fixtures_verify() {
    let v = cos_verify(&common::cos_request()).unwrap();
    assert_eq!(v.access_key_id, AK);
    assert_eq!(v.expires_at, NOW + 3600);
    assert_eq!(v.nonce, None);
    let v = v3_verify(&common::aliyun_v3_request()).unwrap();
    assert_eq!(v.nonce.as_deref(), Some("3156853299f313e23d1673dc12e1703d"));
    assert_eq!(v.expires_at, NOW + 900);
    let v = v2_verify(&common::aliyun_v2_request()).unwrap();
    assert_eq!(v.nonce.as_deref(), Some("3156853299f313e23d1673dc12e1703d"));
    assert_eq!(v.expires_at, NOW + 31 * 60);
    let v = volc_verify(&common::volc_request()).unwrap();
    assert_eq!(v.region.as_deref(), Some("cn-beijing"));
    assert_eq!(v.service.as_deref(), Some("nta"));
}

// ---------------------------------------------------------------------------------------------
// COS

#[test]
fn cos_signature_byte_changed() {
    let req = common::cos_request();
    let auth = flip_hex_after(req.header("authorization").unwrap(), "q-signature=");
    assert_eq!(
        cos_verify(&with_auth(req, &auth)),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn cos_signed_header_altered_or_removed() {
    let mut req = common::cos_request();
    req.set_header("x-cos-meta-note", "a b/d");
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::cos_request();
    req.remove_header("x-cos-meta-note");
    assert_eq!(
        cos_verify(&req),
        Err(AuthError::MissingSignedHeader("x-cos-meta-note".into()))
    );
    let mut req = common::cos_request();
    req.set_header(
        "host",
        "otherbucket-1250000000.cos.ap-chongqing.myqcloud.com",
    );
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
}

#[test]
fn cos_unsigned_header_and_param_are_ignored() {
    let mut req = common::cos_request();
    req.set_header("User-Agent", "something else");
    req.set_param("extra", "changed");
    req.set_header("x-cos-unsigned", "1");
    assert!(cos_verify(&req).is_ok());
}

#[test]
fn cos_signed_param_altered_or_removed() {
    let mut req = common::cos_request();
    req.set_param("type", "sha256");
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::cos_request();
    req.query.retain(|(k, _)| k != "type");
    assert_eq!(
        cos_verify(&req),
        Err(AuthError::MissingSignedParam("type".into()))
    );
    let mut req = common::cos_request();
    req.set_param("Type", "md5"); // a second parameter that also signs as `type`
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
}

#[test]
fn cos_method_and_path_are_signed() {
    let mut req = common::cos_request();
    req.method = "HEAD".into();
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::cos_request();
    req.path = "/input/test file 1.mp4".into();
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
}

#[test]
fn cos_time_window() {
    let req = common::cos_request();
    let opts = cos::Options::default();
    let at = |now| cos::verify(&req.parts(), &key_store(), now, &opts);
    assert!(at(NOW - 60).is_ok());
    assert!(at(NOW + 3600).is_ok());
    assert_eq!(at(NOW + 3601), Err(AuthError::Expired));
    // The start may be up to 900 s ahead of the server clock.
    assert!(at(NOW - 60 - 900).is_ok());
    assert_eq!(at(NOW - 60 - 901), Err(AuthError::NotYetValid));
    let strict = cos::Options { max_start_skew: 0 };
    assert_eq!(
        cos::verify(&req.parts(), &key_store(), NOW - 61, &strict),
        Err(AuthError::NotYetValid)
    );
}

#[test]
fn cos_key_time_is_checked_too() {
    let window = cos::KeyTime::new(NOW - 60, NOW + 3600);
    let key_window = cos::KeyTime::new(NOW - 7200, NOW - 3600);
    let headers = s(&[("Host", "b-1.cos.r.myqcloud.com")]);
    let signed = cos::sign(
        &Secret::new(SK),
        &cos::SignRequest {
            method: "GET",
            path: "/",
            params: &[],
            headers: &headers,
            sign_time: &window,
            key_time: &key_window,
        },
    );
    let mut headers = headers;
    headers.push((
        "Authorization".into(),
        signed.authorization(AK).replace(
            &format!("q-key-time={window}"),
            &format!("q-key-time={key_window}"),
        ),
    ));
    let req = Req {
        method: "GET".into(),
        path: "/".into(),
        query: vec![],
        raw_query: None,
        headers,
        body: vec![],
    };
    // The key-time window ended: the request is refused although the sign-time one is open.
    assert_eq!(cos_verify(&req), Err(AuthError::Expired));
}

#[test]
fn cos_unknown_key() {
    let req = common::cos_request();
    let other = keys(&[("AKIDother", SK)]);
    assert_eq!(
        cos::verify(&req.parts(), &other, NOW, &cos::Options::default()),
        Err(AuthError::UnknownAccessKey)
    );
    // A closure works as a key lookup too.
    let lookup = |ak: &str| (ak == AK).then(|| Secret::new(SK));
    assert!(cos::verify(&req.parts(), &lookup, NOW, &cos::Options::default()).is_ok());
}

#[test]
fn cos_wrong_secret() {
    let req = common::cos_request();
    let wrong = keys(&[(AK, "not-the-secret")]);
    assert_eq!(
        cos::verify(&req.parts(), &wrong, NOW, &cos::Options::default()),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn cos_host_with_and_without_port() {
    // Fixture: signed `host` without port (PY), received with `:8080`.
    assert!(cos_verify(&common::cos_request()).is_ok());
    // Signed with the port (GO), received with it.
    let signed_host = "127.0.0.1:8080";
    let req = cos_simple("GET", signed_host, signed_host);
    assert!(cos_verify(&req).is_ok());
    // Signed with one port, received with another: neither form matches.
    let req = cos_simple("GET", "127.0.0.1:8080", "127.0.0.1:9090");
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
    // Signed without port, received without port.
    let req = cos_simple("GET", "b-1.cos.r.myqcloud.com", "b-1.cos.r.myqcloud.com");
    assert!(cos_verify(&req).is_ok());
    // IPv6 literal with port, signed bare.
    let req = cos_simple("GET", "[::1]", "[::1]:8080");
    assert!(cos_verify(&req).is_ok());
}

fn cos_simple(method: &str, signed_host: &str, received_host: &str) -> Req {
    let window = cos::KeyTime::new(NOW - 60, NOW + 60);
    let signed = cos::sign(
        &Secret::new(SK),
        &cos::SignRequest {
            method,
            path: "/file_jobs",
            params: &[],
            headers: &s(&[("host", signed_host)]),
            sign_time: &window,
            key_time: &window,
        },
    );
    Req {
        method: method.into(),
        path: "/file_jobs".into(),
        query: vec![],
        raw_query: None,
        headers: s(&[
            ("Host", received_host),
            ("Authorization", &signed.authorization(AK)),
        ]),
        body: vec![],
    }
}

#[test]
fn cos_header_names_are_case_insensitive() {
    let mut req = common::cos_request();
    for (k, _) in &mut req.headers {
        *k = k.to_ascii_uppercase();
    }
    assert!(cos_verify(&req).is_ok());
    // The header list itself may be upper-cased too.
    let mut req = common::cos_request();
    let auth = req.header("authorization").unwrap().replace(
        "q-header-list=host;x-cos-meta-note",
        "q-header-list=HOST;X-COS-META-NOTE",
    );
    req.set_header("authorization", &auth);
    assert!(cos_verify(&req).is_ok());
}

#[test]
fn cos_values_are_encoded_per_spec() {
    // The fixture signs `x-cos-meta-note: a b/c` as `a%20b%2Fc` and the decoded path with a
    // space and a `+`; spot-check the canonical strings.
    let (joined, list) = cos::format_pairs([("X-Cos-Meta-Note", "a b/c"), ("Host", "h")]);
    assert_eq!(joined, "host=h&x-cos-meta-note=a%20b%2Fc");
    assert_eq!(list, "host;x-cos-meta-note");
    assert_eq!(
        cos::http_string("GET", "/a b+c", "", &joined),
        "get\n/a b+c\n\nhost=h&x-cos-meta-note=a%20b%2Fc\n"
    );
}

#[test]
fn cos_raw_query_plus_is_a_space() {
    // Every COS SDK form-encodes its query (Python requests, Go url.Values: a space is `+`,
    // a plus `%2B`; Node.js: `%20` and `%2B`) and signs the decoded value.
    let window = cos::KeyTime::new(NOW - 60, NOW + 60);
    let params = s(&[("prefix", "a b")]);
    let signed = cos::sign(
        &Secret::new(SK),
        &cos::SignRequest {
            method: "GET",
            path: "/",
            params: &params,
            headers: &[],
            sign_time: &window,
            key_time: &window,
        },
    );
    let mut req = Req {
        method: "GET".into(),
        path: "/".into(),
        query: vec![],
        raw_query: Some("prefix=a+b".into()),
        headers: s(&[("Authorization", &signed.authorization(AK))]),
        body: vec![],
    };
    assert!(cos_verify(&req).is_ok(), "`+` is a space in a COS query");
    req.raw_query = Some("prefix=a%20b".into());
    assert!(cos_verify(&req).is_ok());
    req.raw_query = Some("prefix=a%2Bb".into());
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
}

#[test]
fn cos_presigned_query_form() {
    let base = common::cos_request();
    let auth = cos::parse_authorization(base.header("authorization").unwrap()).unwrap();
    assert_eq!(auth.source, cos::CredentialSource::Header);
    let auth_text = base.header("authorization").unwrap().to_owned();
    let mut req = base.clone();
    req.remove_header("authorization");
    let mut query = req.query.clone();
    for field in auth_text.split('&') {
        let (k, v) = field.split_once('=').unwrap();
        query.push((k.into(), v.into()));
    }
    query.push(("x-cos-security-token".into(), "tok".into()));
    req.raw_query = Some(encode_query(&query));
    let v = cos_verify(&req).unwrap();
    assert_eq!(v.security_token.as_deref(), Some("tok"));

    // A signed parameter altered in the URL.
    req.raw_query = Some(encode_query(&query).replace("type=md5", "type=sha1"));
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
    // Signature altered.
    let tampered = flip_hex_after(&encode_query(&query), "q-signature=");
    req.raw_query = Some(tampered);
    assert_eq!(cos_verify(&req), Err(AuthError::SignatureMismatch));
    // A repeated q-* field.
    req.raw_query = Some(format!("{}&q-ak=other", encode_query(&query)));
    assert!(matches!(cos_verify(&req), Err(AuthError::Malformed(_))));
    // Incomplete q-* fields.
    req.raw_query = Some("q-sign-algorithm=sha1&q-ak=AKIDtest".into());
    assert!(matches!(cos_verify(&req), Err(AuthError::Malformed(_))));
    // No credential at all.
    req.raw_query = Some("ci-process=filehash".into());
    assert_eq!(cos_verify(&req), Err(AuthError::Missing));
}

#[test]
fn cos_missing_and_malformed_authorization() {
    let mut req = common::cos_request();
    req.remove_header("authorization");
    assert_eq!(cos_verify(&req), Err(AuthError::Missing));

    let valid = common::cos_request()
        .header("authorization")
        .unwrap()
        .to_owned();
    for bad in malformed_variants(&valid) {
        let result = cos_verify(&with_auth(common::cos_request(), &bad));
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{:?} -> {result:?}",
            &bad[..bad.len().min(80)]
        );
    }
    let cases = [
        // duplicate field
        format!("{valid}&q-ak=AKIDtest"),
        // missing field
        valid.replace("q-key-time=", "q-xey-time="),
        // signature not hex / wrong length
        valid.replace("q-signature=", "q-signature=zz"),
        format!("{valid}00"),
        // inverted window
        valid.replace(
            &format!("q-sign-time={};{}", NOW - 60, NOW + 3600),
            &format!("q-sign-time={};{}", NOW + 3600, NOW - 60),
        ),
        // repeated name in the header list
        valid.replace("q-header-list=host;", "q-header-list=host;host;"),
        // empty list entry
        valid.replace("q-header-list=host;", "q-header-list=host;;"),
        // field without '='
        format!("{valid}&q-oops"),
    ];
    for bad in cases {
        assert!(
            matches!(
                cos_verify(&with_auth(common::cos_request(), &bad)),
                Err(AuthError::Malformed(_))
            ),
            "{bad}"
        );
    }
    let sha256 = valid.replace("q-sign-algorithm=sha1", "q-sign-algorithm=sha256");
    assert_eq!(
        cos_verify(&with_auth(common::cos_request(), &sha256)),
        Err(AuthError::UnsupportedAlgorithm)
    );
    // Two Authorization headers.
    let mut req = common::cos_request();
    req.headers.push(("authorization".into(), valid));
    assert!(matches!(cos_verify(&req), Err(AuthError::Malformed(_))));
}

// ---------------------------------------------------------------------------------------------
// Alibaba V3

#[test]
fn v3_signature_byte_changed() {
    let req = common::aliyun_v3_request();
    let auth = flip_hex_after(req.header("authorization").unwrap(), "Signature=");
    assert_eq!(
        v3_verify(&with_auth(req, &auth)),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn v3_signed_header_altered_or_removed() {
    let mut req = common::aliyun_v3_request();
    req.set_header("x-acs-action", "GetFileDetectResult");
    assert_eq!(v3_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::aliyun_v3_request();
    req.set_header("user-agent", "curl");
    assert_eq!(v3_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::aliyun_v3_request();
    req.remove_header("accept");
    assert_eq!(
        v3_verify(&req),
        Err(AuthError::MissingSignedHeader("accept".into()))
    );
    // Unsigned headers do not matter; surrounding whitespace is trimmed.
    let mut req = common::aliyun_v3_request();
    req.set_header("Content-Length", "999");
    req.set_header("accept", "  application/json ");
    assert!(v3_verify(&req).is_ok());
}

#[test]
fn v3_required_headers_must_be_signed() {
    // Re-sign the fixture without x-acs-action in SignedHeaders.
    let base = common::aliyun_v3_request();
    let auth = base.header("authorization").unwrap();
    let unsigned_action = auth.replace("x-acs-action;", "");
    assert_eq!(
        v3_verify(&with_auth(base.clone(), &unsigned_action)),
        Err(AuthError::HeaderNotSigned("x-acs-action"))
    );
    // An STS token sent but not signed.
    let mut req = base;
    req.set_header("x-acs-security-token", "tok");
    assert_eq!(
        v3_verify(&req),
        Err(AuthError::HeaderNotSigned("x-acs-security-token"))
    );
}

#[test]
fn v3_query_altered() {
    let mut req = common::aliyun_v3_request();
    req.set_param("Type", "1");
    assert_eq!(v3_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::aliyun_v3_request();
    req.set_param("Extra", "1");
    assert_eq!(v3_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::aliyun_v3_request();
    req.query.push(("Type".into(), "0".into()));
    assert!(matches!(v3_verify(&req), Err(AuthError::Malformed(_))));
}

#[test]
fn v3_raw_query_is_form_decoded() {
    let mut req = common::aliyun_v3_request();
    // Python's urlencode: space as `+`, reserved characters escaped.
    req.raw_query = Some(
        "DownloadUrl=https%3A%2F%2Fexample.com%2Fa+b%3Fx%3D1%26y%3D2%2A&\
         HashKey=0a212417e65c26ff133cfff28f6c1234&Type=0"
            .into(),
    );
    assert!(v3_verify(&req).is_ok());
    req.raw_query = Some(encode_query(&req.query));
    assert!(v3_verify(&req).is_ok());
}

#[test]
fn v3_body_must_match_its_hash() {
    let mut req = common::aliyun_v3_request();
    req.body = b"{\"a\":2}".to_vec();
    assert_eq!(v3_verify(&req), Err(AuthError::ContentHashMismatch));
    // The caller may pass the hash instead of the body.
    let req = common::aliyun_v3_request();
    let parts = req
        .parts()
        .with_body(hashscan_auth::Payload::Sha256(common::sha256(&req.body)));
    assert!(aliyun_v3::verify(&parts, &key_store(), NOW, &aliyun_v3::Options::default()).is_ok());
}

#[test]
fn v3_time_window() {
    let req = common::aliyun_v3_request();
    let opts = aliyun_v3::Options::default();
    let at = |now| aliyun_v3::verify(&req.parts(), &key_store(), now, &opts);
    assert!(at(NOW + 900).is_ok());
    assert!(at(NOW - 900).is_ok());
    assert_eq!(at(NOW + 901), Err(AuthError::Expired));
    assert_eq!(at(NOW - 901), Err(AuthError::TimeSkewed));
}

#[test]
fn v3_unknown_key_and_missing() {
    let req = common::aliyun_v3_request();
    assert_eq!(
        aliyun_v3::verify(
            &req.parts(),
            &keys(&[("x", "y")]),
            NOW,
            &aliyun_v3::Options::default()
        ),
        Err(AuthError::UnknownAccessKey)
    );
    let mut req = common::aliyun_v3_request();
    req.remove_header("authorization");
    assert!(!aliyun_v3::is_present(&req.parts()));
    assert_eq!(v3_verify(&req), Err(AuthError::Missing));
}

#[test]
fn v3_malformed_authorization() {
    let valid = common::aliyun_v3_request()
        .header("authorization")
        .unwrap()
        .to_owned();
    for bad in malformed_variants(&valid) {
        let result = v3_verify(&with_auth(common::aliyun_v3_request(), &bad));
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{:?} -> {result:?}",
            &bad[..bad.len().min(80)]
        );
    }
    let cases = [
        format!("{valid},Credential=x"),
        valid.replace("Credential=", "Kredential="),
        valid.replace("SignedHeaders=accept;", "SignedHeaders=Accept;"),
        valid.replace("SignedHeaders=accept;", "SignedHeaders=accept;accept;"),
        valid.replace("SignedHeaders=accept;", "SignedHeaders=;"),
        valid.replace("Signature=", "Signature=0"),
        valid.replace("Credential=AKIDtest", "Credential="),
        valid.replace(' ', ""),
    ];
    for bad in cases {
        let result = v3_verify(&with_auth(common::aliyun_v3_request(), &bad));
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{bad} -> {result:?}"
        );
    }
    let sm3 = valid.replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3");
    assert_eq!(
        v3_verify(&with_auth(common::aliyun_v3_request(), &sm3)),
        Err(AuthError::UnsupportedAlgorithm)
    );
    // Spaces after the commas are tolerated.
    let spaced = valid.replace(',', ", ");
    assert!(v3_verify(&with_auth(common::aliyun_v3_request(), &spaced)).is_ok());
}

#[test]
fn v3_bad_date() {
    // Sign a request whose x-acs-date is not a date: the signature is fine, the date is not.
    let mut req = common::aliyun_v3_request();
    req.set_header("x-acs-date", "yesterday");
    let signed_names: Vec<String> = [
        "host",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ]
    .iter()
    .map(|n| n.to_string())
    .collect();
    let hash = req.header("x-acs-content-sha256").unwrap().to_owned();
    let signed = aliyun_v3::sign(
        &Secret::new(SK),
        &aliyun_v3::SignRequest {
            method: "POST",
            path: "/",
            query: &req.query.clone(),
            headers: &req.headers.clone(),
            signed_headers: &signed_names,
            payload_hash: &hash,
        },
    )
    .unwrap();
    req.set_header("authorization", &signed.authorization(AK));
    assert!(matches!(v3_verify(&req), Err(AuthError::Malformed(_))));
}

// ---------------------------------------------------------------------------------------------
// Alibaba V2

#[test]
fn v2_signature_changed() {
    let mut req = common::aliyun_v2_request();
    let sig = req
        .query
        .iter()
        .find(|(k, _)| k == "Signature")
        .unwrap()
        .1
        .clone();
    let mut bytes = sig.into_bytes();
    bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
    req.set_param("Signature", std::str::from_utf8(&bytes).unwrap());
    assert_eq!(v2_verify(&req), Err(AuthError::SignatureMismatch));
}

#[test]
fn v2_param_altered_added_or_repeated() {
    let mut req = common::aliyun_v2_request();
    req.set_param("Action", "GetFileDetectResult");
    assert_eq!(v2_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::aliyun_v2_request();
    req.set_param("Extra", "");
    assert_eq!(v2_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::aliyun_v2_request();
    req.query.push(("Type".into(), "1".into()));
    assert!(matches!(v2_verify(&req), Err(AuthError::Malformed(_))));
    // Headers and the method are outside / inside the signature respectively.
    let mut req = common::aliyun_v2_request();
    req.set_header("x-acs-action", "Other");
    assert!(v2_verify(&req).is_ok());
    req.method = "GET".into();
    assert_eq!(v2_verify(&req), Err(AuthError::SignatureMismatch));
}

#[test]
fn v2_raw_query_is_form_decoded() {
    let mut req = common::aliyun_v2_request();
    let wire = encode_query(&req.query).replace("%20", "+");
    assert!(wire.contains("a+b"));
    req.raw_query = Some(wire);
    assert!(v2_verify(&req).is_ok());
    // An unescaped `+` in the base64 Signature arrives as a space and is read back. Find a
    // nonce whose signature has a `+`.
    let mut params = common::aliyun_v2_request().query;
    params.retain(|(k, _)| k != "Signature");
    let signature = (0..1000)
        .find_map(|n| {
            let nonce = format!("nonce-{n}");
            for p in params.iter_mut().filter(|(k, _)| k == "SignatureNonce") {
                p.1.clone_from(&nonce);
            }
            let sig = aliyun_v2::sign(&Secret::new(SK), "POST", &params).signature;
            sig.contains('+').then_some(sig)
        })
        .unwrap();
    let raw = format!("{}&Signature={signature}", encode_query(&params));
    req.raw_query = Some(raw.clone());
    assert!(v2_verify(&req).is_ok(), "{raw}");
    req.raw_query = Some(raw.replace('+', "%2B"));
    assert!(v2_verify(&req).is_ok());
}

#[test]
fn v2_form_body_parameters_are_signed() {
    let mut params = s(&[
        ("Action", "CreateFileDetect"),
        ("Timestamp", "2024-10-22T06:23:35Z"),
        ("SignatureNonce", "n1"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", AK),
        ("HashKey", "abc"),
        ("Note", "a b"),
    ]);
    let signed = aliyun_v2::sign(&Secret::new(SK), "POST", &params);
    // The last two parameters travel in the body.
    let body_pairs = params.split_off(6);
    params.push(("Signature".into(), signed.signature));
    let req = Req {
        method: "POST".into(),
        path: "/".into(),
        query: params,
        raw_query: None,
        headers: s(&[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )]),
        body: encode_query(&body_pairs).replace("%20", "+").into_bytes(),
    };
    assert!(v2_verify(&req).is_ok());
    let mut tampered = req.clone();
    tampered.body = String::from_utf8(req.body.clone())
        .unwrap()
        .replace("HashKey=abc", "HashKey=abd")
        .into_bytes();
    assert_eq!(v2_verify(&tampered), Err(AuthError::SignatureMismatch));
    let mut not_form = req;
    not_form.set_header("Content-Type", "application/json");
    assert_eq!(v2_verify(&not_form), Err(AuthError::SignatureMismatch));
}

#[test]
fn v2_time_window() {
    let req = common::aliyun_v2_request();
    let opts = aliyun_v2::Options::default();
    let at = |now| aliyun_v2::verify(&req.parts(), &key_store(), now, &opts);
    assert!(at(NOW + 31 * 60).is_ok());
    assert_eq!(at(NOW + 31 * 60 + 1), Err(AuthError::Expired));
    assert!(at(NOW - 900).is_ok());
    assert_eq!(at(NOW - 901), Err(AuthError::TimeSkewed));
}

#[test]
fn v2_unknown_key_missing_and_malformed() {
    let req = common::aliyun_v2_request();
    assert_eq!(
        aliyun_v2::verify(
            &req.parts(),
            &keys(&[("x", "y")]),
            NOW,
            &aliyun_v2::Options::default()
        ),
        Err(AuthError::UnknownAccessKey)
    );
    let mut req = common::aliyun_v2_request();
    req.query.retain(|(k, _)| k != "Signature");
    assert!(!aliyun_v2::is_present(&req.parts()));
    assert_eq!(v2_verify(&req), Err(AuthError::Missing));

    for (name, value) in [
        ("Signature", ""),
        ("Signature", "not base64!"),
        ("Signature", "AAAA"),
        ("Signature", &"A".repeat(10_000)),
        ("Signature", "DK1j0VWgfK4ZlDbb5Q8LhhKDFY8é"),
        ("Timestamp", "2024-10-22 06:23:35"),
        ("Timestamp", ""),
        ("SignatureNonce", ""),
        ("AccessKeyId", ""),
    ] {
        let mut req = common::aliyun_v2_request();
        req.set_param(name, value);
        let result = v2_verify(&req);
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{name}={:?} -> {result:?}",
            &value[..value.len().min(40)]
        );
    }
    for name in [
        "AccessKeyId",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
    ] {
        let mut req = common::aliyun_v2_request();
        req.query.retain(|(k, _)| k != name);
        assert!(
            matches!(v2_verify(&req), Err(AuthError::Malformed(_))),
            "without {name}"
        );
    }
    let mut req = common::aliyun_v2_request();
    req.set_param("SignatureMethod", "HMAC-SHA256");
    assert_eq!(v2_verify(&req), Err(AuthError::UnsupportedAlgorithm));
    let mut req = common::aliyun_v2_request();
    req.query.push(("Signature".into(), "x".into()));
    assert!(matches!(v2_verify(&req), Err(AuthError::Malformed(_))));
}

// ---------------------------------------------------------------------------------------------
// Volcengine

#[test]
fn volc_signature_byte_changed() {
    let req = common::volc_request();
    let auth = flip_hex_after(req.header("authorization").unwrap(), "Signature=");
    assert_eq!(
        volc_verify(&with_auth(req, &auth)),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn volc_signed_header_altered_or_removed() {
    let mut req = common::volc_request();
    req.set_header("X-Sdk-Request", "attempt=2; max=4");
    assert_eq!(volc_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::volc_request();
    req.remove_header("X-Sdk-Invocation-Id");
    assert_eq!(
        volc_verify(&req),
        Err(AuthError::MissingSignedHeader("x-sdk-invocation-id".into()))
    );
    let mut req = common::volc_request();
    req.set_header("User-Agent", "other");
    assert!(volc_verify(&req).is_ok());
}

#[test]
fn volc_host_default_ports_are_dropped() {
    let mut req = common::volc_request();
    req.set_header("Host", "127.0.0.1:18765");
    assert!(volc_verify(&req).is_ok());
    assert_eq!(volc::normalize_host("a.example:443"), "a.example");
    assert_eq!(volc::normalize_host("a.example:80"), "a.example");
    assert_eq!(volc::normalize_host("a.example:8080"), "a.example:8080");
}

#[test]
fn volc_query_and_body() {
    let mut req = common::volc_request();
    req.set_param("Action", "CreateFileDetection");
    assert_eq!(volc_verify(&req), Err(AuthError::SignatureMismatch));
    let mut req = common::volc_request();
    req.body = br#"{"QueryKey": "00000000000000000000000000000000"}"#.to_vec();
    assert_eq!(volc_verify(&req), Err(AuthError::ContentHashMismatch));
    let mut req = common::volc_request();
    req.raw_query = Some("Action=GetFileDetection&Version=2024-07-30".into());
    assert!(volc_verify(&req).is_ok());
}

#[test]
fn volc_scope_checks() {
    let req = common::volc_request();
    let other_service = volc::Options {
        service: Some("iam".into()),
        ..volc::Options::default()
    };
    assert_eq!(
        volc::verify(&req.parts(), &key_store(), NOW, &other_service),
        Err(AuthError::ScopeMismatch)
    );
    let other_region = volc::Options {
        region: Some("cn-shanghai".into()),
        ..volc::Options::default()
    };
    assert_eq!(
        volc::verify(&req.parts(), &key_store(), NOW, &other_region),
        Err(AuthError::ScopeMismatch)
    );
    // Scope date differing from X-Date.
    let auth = req
        .header("authorization")
        .unwrap()
        .replace("/20241022/", "/20241023/");
    assert_eq!(
        volc_verify(&with_auth(req, &auth)),
        Err(AuthError::ScopeMismatch)
    );
}

#[test]
fn volc_time_window() {
    let req = common::volc_request();
    let opts = volc_opts();
    let at = |now| volc::verify(&req.parts(), &key_store(), now, &opts);
    assert!(at(NOW + 900).is_ok());
    assert!(at(NOW - 900).is_ok());
    assert_eq!(at(NOW + 901), Err(AuthError::Expired));
    assert_eq!(at(NOW - 901), Err(AuthError::TimeSkewed));
}

#[test]
fn volc_unknown_key_missing_and_required() {
    let req = common::volc_request();
    assert_eq!(
        volc::verify(&req.parts(), &keys(&[("x", "y")]), NOW, &volc_opts()),
        Err(AuthError::UnknownAccessKey)
    );
    let mut missing = req.clone();
    missing.remove_header("authorization");
    assert_eq!(volc_verify(&missing), Err(AuthError::Missing));
    let auth = req.header("authorization").unwrap();
    let no_date = auth.replace("x-date;", "");
    assert_eq!(
        volc_verify(&with_auth(req.clone(), &no_date)),
        Err(AuthError::HeaderNotSigned("x-date"))
    );
    let no_hash = auth.replace("x-content-sha256;", "");
    assert_eq!(
        volc_verify(&with_auth(req, &no_hash)),
        Err(AuthError::HeaderNotSigned("x-content-sha256"))
    );
}

/// Volcengine's gateway accepts a signature that leaves `host` out (the official Node.js
/// signer, `@volcengine/openapi`, does); the date and a sent content hash stay required.
#[test]
fn volc_host_need_not_be_signed() {
    let req = common::volc_request_signing(&["content-type", "x-content-sha256", "x-date"]);
    let verified = volc_verify(&req).unwrap();
    assert_eq!(verified.access_key_id, common::AK);
    // The signature still covers what it names: another body fails.
    let mut other = req.clone();
    other.body = b"{}".to_vec();
    assert_eq!(volc_verify(&other), Err(AuthError::ContentHashMismatch));
    let no_date = common::volc_request_signing(&["content-type", "x-content-sha256"]);
    assert_eq!(
        volc_verify(&no_date),
        Err(AuthError::HeaderNotSigned("x-date"))
    );
}

#[test]
fn volc_malformed_authorization() {
    let valid = common::volc_request()
        .header("authorization")
        .unwrap()
        .to_owned();
    for bad in malformed_variants(&valid) {
        let result = volc_verify(&with_auth(common::volc_request(), &bad));
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{:?} -> {result:?}",
            &bad[..bad.len().min(80)]
        );
    }
    let cases = [
        format!("{valid}, Signature=00"),
        valid.replace("Credential=AKIDtest/", "Credential="),
        valid.replace("/request,", "/requests,"),
        valid.replace("/20241022/", "/2024102/"),
        valid.replace("/cn-beijing/", "//"),
        valid.replace("SignedHeaders=", "SignedHeaderz="),
        valid.replace("Signature=", "Signature=x"),
        valid.replace("content-type;", "Content-Type;"),
    ];
    for bad in cases {
        let result = volc_verify(&with_auth(common::volc_request(), &bad));
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{bad} -> {result:?}"
        );
    }
    let other = valid.replace("HMAC-SHA256 ", "HMAC-SHA1 ");
    assert_eq!(
        volc_verify(&with_auth(common::volc_request(), &other)),
        Err(AuthError::UnsupportedAlgorithm)
    );
    // Compact separators (no space after commas) are accepted.
    let compact = valid.replace(", ", ",");
    assert!(volc_verify(&with_auth(common::volc_request(), &compact)).is_ok());
}

// ---------------------------------------------------------------------------------------------
// secrets stay out of output

#[test]
fn secrets_are_redacted() {
    let secret = Secret::new("super-secret-value");
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    let mut req = common::volc_request();
    req.set_header("X-Security-Token", "token-value");
    let auth = req
        .header("authorization")
        .unwrap()
        .replace("x-sdk-request", "x-sdk-request;x-security-token");
    // The signature no longer matches, but no error text may carry the secret.
    let err = volc_verify(&with_auth(req, &auth)).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SK));
    let window = cos::KeyTime::new(1, 2);
    let signed = cos::sign(
        &secret,
        &cos::SignRequest {
            method: "GET",
            path: "/",
            params: &[],
            headers: &[],
            sign_time: &window,
            key_time: &window,
        },
    );
    assert!(!format!("{signed:?}").contains(&signed.sign_key));
    let mut v = cos_verify(&common::cos_request()).unwrap();
    v.security_token = Some("token-value".into());
    assert!(!format!("{v:?}").contains("token-value"));
}

#[test]
fn cos_post_policy_signature_and_its_refusals() {
    // Worked out with Python's hmac/hashlib from the algorithm in Tencent's POST Object
    // documentation and its Java SDK (COSSigner.buildPostObjectSignature).
    let secret = "SECRETKEYhashscanpostpolicy00001";
    let keys = keys(&[("AKIDpost", secret)]);
    let policy =
        br#"{"expiration":"2023-11-14T23:13:20.000Z","conditions":[{"bucket":"b-1250000000"}]}"#;
    let key_time = "1700000000;1700003600";
    assert_eq!(
        hex::encode(cos::post_policy_signature(
            &Secret::new(secret),
            key_time,
            policy
        )),
        "c68b01220c95dd21719aaa4bf59f2b60f21368af"
    );
    let fields = cos::PostSignature {
        algorithm: "sha1",
        access_key_id: "AKIDpost",
        key_time,
        signature: "c68b01220c95dd21719aaa4bf59f2b60f21368af",
    };
    let opts = cos::Options::default();
    let check = |f: &cos::PostSignature<'_>, policy: &[u8], now: i64| {
        cos::verify_post_policy(&keys, f, policy, now, &opts)
    };
    assert_eq!(check(&fields, policy, 1_700_000_100).unwrap(), "AKIDpost");
    // Another policy, another key, a key-time window over, a malformed signature.
    assert_eq!(
        check(&fields, b"{}", 1_700_000_100),
        Err(AuthError::SignatureMismatch)
    );
    assert_eq!(
        check(
            &cos::PostSignature {
                access_key_id: "AKIDother",
                ..fields
            },
            policy,
            1_700_000_100
        ),
        Err(AuthError::UnknownAccessKey)
    );
    assert_eq!(
        check(&fields, policy, 1_700_003_601),
        Err(AuthError::Expired)
    );
    assert!(matches!(
        check(
            &cos::PostSignature {
                signature: "zz",
                ..fields
            },
            policy,
            1_700_000_100
        ),
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        check(
            &cos::PostSignature {
                algorithm: "md5",
                ..fields
            },
            policy,
            1_700_000_100
        ),
        Err(AuthError::Malformed(_))
    ));
    // A window whose text differs from the signed one (the same numbers) does not verify.
    let respaced = cos::PostSignature {
        key_time: "1700000000;1700003601",
        ..fields
    };
    assert_eq!(
        check(&respaced, policy, 1_700_000_100),
        Err(AuthError::SignatureMismatch)
    );
}
