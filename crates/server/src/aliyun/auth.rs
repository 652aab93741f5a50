//! Authentication of a Sas request: Alibaba signature V3 or V2 (detection-apis.md §2.2, §2.3,
//! verified by `hashscan_auth`), then refusal of a replayed nonce.
//!
//! * V3 when an `Authorization: ACS3-…` header is present, else V2 when a `Signature` query
//!   parameter is present, else 400 `MissingSignature`.
//! * Time windows (spec §1.9): V3 `x-acs-date` within ±15 minutes of now; V2 `Timestamp` at most
//!   31 minutes old and at most 15 minutes ahead (`hashscan_auth`'s defaults, [`AuthOptions`]).
//! * The nonce (`x-acs-signature-nonce` / `SignatureNonce`) must be present; it is remembered
//!   ([`remember_nonce`], in the shared state) only once the signature holds, so
//!   unauthenticated traffic cannot fill that.
//! * An STS `SecurityToken` is not checked: hashscan has no STS, and a temporary access key is
//!   unknown to it anyway.

use axum::http::{HeaderMap, Method, Uri};
use hashscan_auth::encode::decode_path;
use hashscan_auth::{KeyLookup, Payload, Query, RequestParts, Verified, aliyun_v2, aliyun_v3};

use super::error::SasError;
use crate::meta::shared::{NonceError, NonceRefused, SharedState};
use crate::wire::HeaderMapSource;

/// The time windows of both signature versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthOptions {
    pub v3: aliyun_v3::Options,
    pub v2: aliyun_v2::Options,
}

/// Authenticates a request with the default windows; `now` is Unix seconds.
pub fn authenticate(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    keys: &dyn KeyLookup,
    now: i64,
) -> Result<Verified, SasError> {
    authenticate_with(
        method,
        uri,
        headers,
        body,
        keys,
        now,
        &AuthOptions::default(),
    )
}

/// [`authenticate`] with explicit windows.
pub fn authenticate_with(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    keys: &dyn KeyLookup,
    now: i64,
    options: &AuthOptions,
) -> Result<Verified, SasError> {
    let source = HeaderMapSource(headers);
    let path = decode_path(uri.path());
    // V3 signs the query and hashes the body; V2 signs every parameter, a form body's too
    // (its verifier reads them from the body itself). A V2 `Signature` may be in either.
    let params = super::params::request_params(uri, headers, body)?;
    let parts = RequestParts::new(
        method.as_str(),
        &path,
        Query::Raw(uri.query().unwrap_or("")),
        &source,
    )
    .with_body(Payload::Bytes(body));
    let v2_present = aliyun_v2::is_present(&RequestParts::new(
        method.as_str(),
        &path,
        Query::Raw(&params),
        &source,
    ));
    let verified = if aliyun_v3::is_present(&parts) {
        aliyun_v3::verify(&parts, keys, now, &options.v3)
    } else if v2_present {
        aliyun_v2::verify(&parts, keys, now, &options.v2)
    } else {
        return Err(SasError::missing_signature());
    }
    .map_err(SasError::from_auth)?;
    if verified.nonce.is_none() {
        return Err(SasError::incomplete_signature(
            "the request has no signature nonce",
        ));
    }
    Ok(verified)
}

/// Accepts an authenticated request's nonce once: 400 `SignatureNonceUsed` for a replay
/// within the request's time window, 500 `SystemBusy` when no more nonces can be
/// remembered just now, 503 `ServiceUnavailable` when the shared state cannot be reached.
/// `now` is Unix seconds.
pub async fn remember_nonce(
    shared: &dyn SharedState,
    verified: &Verified,
    now: i64,
) -> Result<(), SasError> {
    let nonce = verified
        .nonce
        .as_deref()
        .ok_or_else(|| SasError::incomplete_signature("the request has no signature nonce"))?;
    shared
        .remember_nonce(&verified.access_key_id, nonce, verified.expires_at, now)
        .await
        .map_err(nonce_error)
}

/// The answer to a nonce that was refused or could not be checked.
fn nonce_error(e: NonceError) -> SasError {
    match e {
        NonceError::Refused(NonceRefused::Replayed) => SasError::signature_nonce_used(),
        NonceError::Refused(NonceRefused::Full) => {
            tracing::warn!("nonce store full: refusing requests until entries expire");
            SasError::system_busy()
        }
        e if e.is_unavailable() => SasError::service_unavailable(&e),
        NonceError::Backend(e) => {
            tracing::error!(error = %e, "cannot check the signature nonce");
            SasError::server_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::HeaderValue;
    use hashscan_auth::time::parse_acs_date;
    use hashscan_auth::{Scheme, Secret};

    use super::*;

    const UA: &str = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const SIGNED: &str = "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version";
    const V3_QUERY: &str = "HashKeyList.1=0a212417e65c26ff133cfff28f6c1234&HashKeyList.2=5d41402abc4b2a76b9719d911017c592&Type=0";
    const V3_SIG: &str = "c81d19ec572927579fea775edd85a113ee7fe7e011b8b0d87e5c61eb35386634";
    const V2_QUERY: &str = "Action=GetFileDetectResult&Format=json&Version=2018-12-03&Timestamp=2024-10-22T06%3A23%3A35Z&SignatureNonce=3156853299f313e23d1673dc12e1703d&HashKeyList.1=0a212417e65c26ff133cfff28f6c1234&HashKeyList.2=5d41402abc4b2a76b9719d911017c592&Type=0&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testAK&Signature=DK1j0VWgfK4ZlDbb5Q8LhhKDFY8%3D";

    fn now() -> i64 {
        parse_acs_date("2024-10-22T06:23:35Z").unwrap()
    }

    fn keys() -> HashMap<String, Secret> {
        HashMap::from([("testAK".to_owned(), Secret::new("testSecret"))])
    }

    /// The V3 headers of spec §2.5 (wire order), for `action` and `signature`.
    fn v3_headers(action: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("accept-encoding", "identity"),
            ("host", "127.0.0.1:18765"),
            ("x-acs-version", "2018-12-03"),
            ("x-acs-action", action),
            ("user-agent", UA),
            ("x-acs-date", "2024-10-22T06:23:35Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("accept", "application/json"),
            ("x-acs-content-sha256", EMPTY_SHA256),
            ("x-acs-credentials-provider", "static_ak"),
        ] {
            h.append(k, HeaderValue::from_str(v).unwrap());
        }
        h.append(
            "authorization",
            HeaderValue::from_str(&format!(
                "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders={SIGNED},Signature={signature}"
            ))
            .unwrap(),
        );
        h.append("content-length", HeaderValue::from_static("0"));
        h
    }

    fn uri(query: &str) -> Uri {
        format!("/?{query}").parse().unwrap()
    }

    fn run(uri: &Uri, headers: &HeaderMap, body: &[u8], at: i64) -> Result<Verified, SasError> {
        authenticate(&Method::POST, uri, headers, body, &keys(), at)
    }

    fn code(r: Result<Verified, SasError>) -> (u16, String) {
        let e = r.unwrap_err();
        (e.status().as_u16(), e.code().to_owned())
    }

    #[test]
    fn v3_captured_get_file_detect_result() {
        let v = run(
            &uri(V3_QUERY),
            &v3_headers("GetFileDetectResult", V3_SIG),
            b"",
            now(),
        )
        .unwrap();
        assert_eq!(v.scheme, Scheme::AliyunV3);
        assert_eq!(v.access_key_id, "testAK");
        assert_eq!(v.nonce.as_deref(), Some("3156853299f313e23d1673dc12e1703d"));
        assert_eq!(v.expires_at, now() + 900);
        // The whole request parses into the typed call.
        let rpc = super::super::params::RpcRequest::parse(
            &uri(V3_QUERY),
            &v3_headers("GetFileDetectResult", V3_SIG),
            b"",
        )
        .unwrap();
        assert!(rpc.validate(v.scheme).is_ok());
    }

    #[test]
    fn v3_captured_create_file_detect() {
        let v = run(
            &uri("HashKey=0a212417e65c26ff133cfff28f6c1234&OssKey=1%2F2022%2F06%2F23%2F15%2F41%2Fx&Type=0"),
            &v3_headers(
                "CreateFileDetect",
                "0ec197ee294f44fe0759515bbbeeb9da26e8ca4eb8fa711e6ec405355b213ce6",
            ),
            b"",
            now(),
        )
        .unwrap();
        assert_eq!(v.scheme, Scheme::AliyunV3);
    }

    #[test]
    fn v2_captured_get_file_detect_result() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:18765"));
        h.insert(
            "x-acs-action",
            HeaderValue::from_static("GetFileDetectResult"),
        );
        h.insert("x-acs-version", HeaderValue::from_static("2018-12-03"));
        let v = run(&uri(V2_QUERY), &h, b"", now()).unwrap();
        assert_eq!(v.scheme, Scheme::AliyunV2);
        assert_eq!(v.expires_at, now() + 31 * 60);
        // 30 minutes later still valid, 32 minutes later expired.
        assert!(run(&uri(V2_QUERY), &h, b"", now() + 30 * 60).is_ok());
        assert_eq!(
            code(run(&uri(V2_QUERY), &h, b"", now() + 32 * 60)),
            (400, "InvalidTimeStamp.Expired".into())
        );
        // Tampered parameter.
        let tampered = V2_QUERY.replace("Type=0", "Type=1");
        assert_eq!(
            code(run(&uri(&tampered), &h, b"", now())),
            (400, "SignatureDoesNotMatch".into())
        );
    }

    #[test]
    fn v2_official_vector() {
        // aliyun-v2-doc-describe-dedicated-hosts: a GET with secret "testsecret".
        let q = "AccessKeyId=testid&Action=DescribeDedicatedHosts&Format=JSON&RegionId=cn-beijing&SignatureMethod=HMAC-SHA1&SignatureNonce=edb2b34af0af9a6d14deaf7c1a5315eb&SignatureVersion=1.0&Timestamp=2023-03-13T08%3A34%3A30Z&Version=2014-05-26&Signature=9NaGiOspFP5UPcwX8Iwt2YJXXuk%3D";
        let keys = HashMap::from([("testid".to_owned(), Secret::new("testsecret"))]);
        let v = authenticate(
            &Method::GET,
            &uri(q),
            &HeaderMap::new(),
            b"",
            &keys,
            parse_acs_date("2023-03-13T08:34:30Z").unwrap(),
        )
        .unwrap();
        assert_eq!(v.access_key_id, "testid");
    }

    #[test]
    fn v3_negatives() {
        let good = v3_headers("GetFileDetectResult", V3_SIG);
        // Bad signature.
        let bad_sig = format!("{}0", &V3_SIG[..63]);
        assert_eq!(
            code(run(
                &uri(V3_QUERY),
                &v3_headers("GetFileDetectResult", &bad_sig),
                b"",
                now()
            )),
            (400, "SignatureDoesNotMatch".into())
        );
        // Tampered query and tampered (signed) action header.
        let tampered = V3_QUERY.replace("HashKeyList.2=5d41", "HashKeyList.2=6d41");
        assert_eq!(
            code(run(&uri(&tampered), &good, b"", now())),
            (400, "SignatureDoesNotMatch".into())
        );
        assert_eq!(
            code(run(
                &uri(V3_QUERY),
                &v3_headers("CreateFileDetect", V3_SIG),
                b"",
                now()
            )),
            (400, "SignatureDoesNotMatch".into())
        );
        // A body that does not hash to x-acs-content-sha256.
        assert_eq!(
            code(run(&uri(V3_QUERY), &good, b"extra", now())),
            (400, "SignatureDoesNotMatch".into())
        );
        // Stale and future dates: ±15 minutes.
        assert!(run(&uri(V3_QUERY), &good, b"", now() + 900).is_ok());
        assert!(run(&uri(V3_QUERY), &good, b"", now() - 900).is_ok());
        assert_eq!(
            code(run(&uri(V3_QUERY), &good, b"", now() + 901)),
            (400, "InvalidTimeStamp.Expired".into())
        );
        assert_eq!(
            code(run(&uri(V3_QUERY), &good, b"", now() - 901)),
            (400, "InvalidTimeStamp.Expired".into())
        );
        // Unknown key.
        let r = authenticate(
            &Method::POST,
            &uri(V3_QUERY),
            &good,
            b"",
            &HashMap::<String, Secret>::new(),
            now(),
        );
        assert_eq!(code(r), (404, "InvalidAccessKeyId.NotFound".into()));
        // Malformed Authorization.
        let mut h = good.clone();
        h.insert(
            "authorization",
            HeaderValue::from_static("ACS3-HMAC-SHA256 Credential=testAK"),
        );
        assert_eq!(
            code(run(&uri(V3_QUERY), &h, b"", now())),
            (400, "IncompleteSignature".into())
        );
        // A required header left out of SignedHeaders.
        let mut h = good.clone();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders={},Signature={V3_SIG}",
                SIGNED.replace("x-acs-action;", "")
            ))
            .unwrap(),
        );
        assert_eq!(
            code(run(&uri(V3_QUERY), &h, b"", now())),
            (400, "IncompleteSignature".into())
        );
    }

    #[tokio::test]
    async fn a_reused_nonce_is_refused() {
        let shared = crate::meta::shared::LocalShared::default();
        let h = v3_headers("GetFileDetectResult", V3_SIG);
        let v3 = authenticate(&Method::POST, &uri(V3_QUERY), &h, b"", &keys(), now()).unwrap();
        remember_nonce(&shared, &v3, now()).await.unwrap();
        let again = remember_nonce(&shared, &v3, now() + 1).await.unwrap_err();
        assert_eq!(
            (again.status().as_u16(), again.code()),
            (400, "SignatureNonceUsed")
        );
        // The V2 request carries the same nonce under the same key: also a replay.
        let v2 = authenticate(
            &Method::POST,
            &uri(V2_QUERY),
            &HeaderMap::new(),
            b"",
            &keys(),
            now(),
        )
        .unwrap();
        let replay = remember_nonce(&shared, &v2, now()).await.unwrap_err();
        assert_eq!(replay.code(), "SignatureNonceUsed");
        // A request that fails its signature never reaches the nonce check.
        let bad = v3_headers("GetFileDetectResult", &"0".repeat(64));
        assert!(authenticate(&Method::POST, &uri(V3_QUERY), &bad, b"", &keys(), now()).is_err());
        assert!(shared.nonces.len() == 1);
    }

    #[test]
    fn missing_signature() {
        let mut h = v3_headers("GetFileDetectResult", V3_SIG);
        h.remove("authorization");
        assert_eq!(
            code(run(&uri(V3_QUERY), &h, b"", now())),
            (400, "MissingSignature".into())
        );
        // A non-ACS3 Authorization header is not a V3 signature either.
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        assert_eq!(
            code(run(&uri(V3_QUERY), &h, b"", now())),
            (400, "MissingSignature".into())
        );
        // V2 without its other credential parameters.
        assert_eq!(
            code(run(
                &uri("Action=GetFileDetectResult&Signature=abc"),
                &HeaderMap::new(),
                b"",
                now()
            )),
            (400, "IncompleteSignature".into())
        );
    }

    #[test]
    fn nonce_store_failures() {
        use crate::meta::BackendError;
        let code = |e: NonceError| {
            let s = nonce_error(e);
            (s.status().as_u16(), s.code().to_owned())
        };
        assert_eq!(
            code(NonceError::Backend(BackendError::unavailable("x"))),
            (503, "ServiceUnavailable".into())
        );
        assert_eq!(
            code(NonceError::Backend(BackendError::new("x"))),
            (500, "ServerError".into())
        );
        assert_eq!(
            code(NonceError::Refused(NonceRefused::Full)),
            (500, "SystemBusy".into())
        );
        assert_eq!(
            code(NonceError::Refused(NonceRefused::Replayed)),
            (400, "SignatureNonceUsed".into())
        );
    }
}
