//! Alibaba Cloud RPC signature V2, HMAC-SHA1 in the `Signature` query parameter
//! (detection-apis.md §2.3), used by legacy SDKs, the CLI and `signature_algorithm='v2'`.
//!
//! ```text
//! CanonicalizedQueryString = every parameter but Signature, sorted by name,
//!                            percentEncode(name)=percentEncode(value) joined with &
//! StringToSign = METHOD & percentEncode("/") & percentEncode(CanonicalizedQueryString)
//! Signature    = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
//! ```
//!
//! Headers and the path are not signed. Parameters come from the query and, when the body is
//! `application/x-www-form-urlencoded`, from the body too; both are form-decoded (`+` is a
//! space, spec §2.1). Blank values are kept (the legacy core signs `SignatureType=`).
//!
//! Server-side rules (choices made here where the spec is silent):
//! * required: `AccessKeyId`, `Signature`, `SignatureMethod=HMAC-SHA1`,
//!   `SignatureVersion=1.0`, `Timestamp` and a non-empty `SignatureNonce` (all documented as
//!   required; the nonce is what replay refusal keys on);
//! * a repeated parameter name is refused (the SDKs send a map);
//! * `Timestamp` may be up to 31 minutes old ("valid for 31 minutes",
//!   <https://help.aliyun.com/document_detail/25490.htm>, cited in spec §1.9) and up to 15 minutes
//!   ahead (the clock skew allowed by V3; the document states no future bound).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::canon::{canonical_query, reject_repeated};
use crate::encode::{Plus, decode_query_cow, rfc3986};
use crate::mac::{ct_eq, hmac_sha1};
use crate::time::{add, check_timestamp, parse_acs_date};
use crate::{AuthError, KeyLookup, Payload, RequestParts, Scheme, Secret, Verified};

/// The only `SignatureMethod` implemented.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// The only `SignatureVersion` defined.
pub const SIGNATURE_VERSION: &str = "1.0";

/// Verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How old `Timestamp` may be: 1860 s, the documented 31 minutes.
    pub max_age: u64,
    /// How far ahead of now `Timestamp` may be: 900 s.
    pub max_future_skew: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_age: 31 * 60,
            max_future_skew: 15 * 60,
        }
    }
}

/// The credential parameters of a V2 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Auth {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `Signature`, decoded.
    pub signature: [u8; 20],
    /// `Timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `SignatureNonce`.
    pub nonce: String,
    /// `SecurityToken` (STS), if sent.
    pub security_token: Option<String>,
}

/// Whether `req` has a `Signature` query parameter, i.e. is meant as a V2 request.
pub fn is_present(req: &RequestParts<'_>) -> bool {
    req.query_pairs(Plus::Space)
        .iter()
        .any(|(k, _)| k == "Signature")
}

/// Reads the credential parameters from decoded pairs; [`AuthError::Missing`] without a
/// `Signature`.
pub fn parse_params<'x>(
    pairs: impl IntoIterator<Item = (&'x str, &'x str)>,
) -> Result<V2Auth, AuthError> {
    let mut signature = None;
    let mut ak = None;
    let mut method = None;
    let mut version = None;
    let mut timestamp = None;
    let mut nonce = None;
    let mut token = None;
    for (k, v) in pairs {
        let slot = match k {
            "Signature" => &mut signature,
            "AccessKeyId" => &mut ak,
            "SignatureMethod" => &mut method,
            "SignatureVersion" => &mut version,
            "Timestamp" => &mut timestamp,
            "SignatureNonce" => &mut nonce,
            "SecurityToken" => &mut token,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(AuthError::Malformed("repeated query parameter"));
        }
    }
    let signature = signature.ok_or(AuthError::Missing)?;
    let method = method.ok_or(AuthError::Malformed("missing SignatureMethod"))?;
    let version = version.ok_or(AuthError::Malformed("missing SignatureVersion"))?;
    if method != SIGNATURE_METHOD || version != SIGNATURE_VERSION {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let ak = ak.ok_or(AuthError::Malformed("missing AccessKeyId"))?;
    if ak.is_empty() {
        return Err(AuthError::Malformed("empty AccessKeyId"));
    }
    let timestamp = timestamp.ok_or(AuthError::Malformed("missing Timestamp"))?;
    let timestamp = parse_acs_date(timestamp).ok_or(AuthError::Malformed(
        "Timestamp is not YYYY-MM-DDTHH:MM:SSZ",
    ))?;
    let nonce = nonce.ok_or(AuthError::Malformed("missing SignatureNonce"))?;
    if nonce.is_empty() {
        return Err(AuthError::Malformed("empty SignatureNonce"));
    }
    Ok(V2Auth {
        access_key_id: ak.to_owned(),
        signature: decode_signature(signature)?,
        timestamp,
        nonce: nonce.to_owned(),
        security_token: token.map(str::to_owned),
    })
}

/// Base64 of 20 bytes. A space is read back as `+`, for clients that leave the `+` of the
/// base64 alphabet unescaped in a form-encoded query.
fn decode_signature(s: &str) -> Result<[u8; 20], AuthError> {
    const BAD: AuthError = AuthError::Malformed("Signature is not base64 of 20 bytes");
    if s.len() != 28 {
        return Err(BAD);
    }
    let s = s.replace(' ', "+");
    let bytes = STANDARD.decode(s.as_bytes()).map_err(|_| BAD)?;
    bytes.try_into().map_err(|_| BAD)
}

/// `CanonicalizedQueryString` of `pairs` (the `Signature` pair, if given, is left out).
pub fn canonicalized_query_string<'x>(
    pairs: impl IntoIterator<Item = (&'x str, &'x str)>,
) -> String {
    canonical_query(pairs.into_iter().filter(|(k, _)| *k != "Signature"), false)
}

/// `StringToSign = METHOD & %2F & percentEncode(CanonicalizedQueryString)`.
pub fn string_to_sign(method: &str, canonicalized_query_string: &str) -> String {
    format!(
        "{method}&{}&{}",
        rfc3986("/"),
        rfc3986(canonicalized_query_string)
    )
}

/// `HMAC-SHA1(AccessKeySecret + "&", StringToSign)`.
pub fn signature(secret: &Secret, string_to_sign: &str) -> [u8; 20] {
    let key = format!("{}&", secret.expose());
    hmac_sha1(key.as_bytes(), string_to_sign.as_bytes())
}

/// A computed V2 signature with its intermediate strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `CanonicalizedQueryString`.
    pub canonicalized_query_string: String,
    /// `StringToSign`.
    pub string_to_sign: String,
    /// `Signature`, base64.
    pub signature: String,
}

/// Signs `params` (every parameter, `AccessKeyId`, `Timestamp`, … included; for hashscan's own
/// clients and tests).
pub fn sign(secret: &Secret, method: &str, params: &[(String, String)]) -> Signed {
    let canonicalized_query_string =
        canonicalized_query_string(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let string_to_sign = string_to_sign(method, &canonicalized_query_string);
    let signature = STANDARD.encode(signature(secret, &string_to_sign));
    Signed {
        canonicalized_query_string,
        string_to_sign,
        signature,
    }
}

/// Verifies a V2-signed request against `keys` at `now` (Unix seconds).
///
/// [`AuthError::Missing`] when there is no `Signature` parameter. A form body's parameters are
/// signed too, so for a form body the caller must pass [`Payload::Bytes`]. On success,
/// [`Verified::nonce`] is `SignatureNonce` and [`Verified::expires_at`] the end of the
/// `Timestamp` window.
pub fn verify(
    req: &RequestParts<'_>,
    keys: &dyn KeyLookup,
    now: i64,
    opts: &Options,
) -> Result<Verified, AuthError> {
    let mut params = req.query_pairs(Plus::Space);
    if let Payload::Bytes(body) = req.body {
        let is_form = req.header_joined("content-type").is_some_and(|ct| {
            ct.trim_start()
                .get(..33)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        if is_form && !body.is_empty() {
            let body = String::from_utf8_lossy(body);
            params.extend(
                decode_query_cow(&body, Plus::Space)
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned()))),
            );
        }
    }
    let pairs = || params.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
    let auth = parse_params(pairs())?;
    reject_repeated(pairs().map(|(k, _)| k))?;
    let secret = keys
        .secret(&auth.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;

    let sts = string_to_sign(req.method, &canonicalized_query_string(pairs()));
    if !ct_eq(&signature(&secret, &sts), &auth.signature) {
        return Err(AuthError::SignatureMismatch);
    }
    check_timestamp(auth.timestamp, now, opts.max_age, opts.max_future_skew)?;
    Ok(Verified {
        scheme: Scheme::AliyunV2,
        access_key_id: auth.access_key_id,
        nonce: Some(auth.nonce),
        signed_at: auth.timestamp,
        expires_at: add(auth.timestamp, opts.max_age),
        security_token: auth.security_token,
        region: None,
        service: None,
        signed_params: Vec::new(),
        signed_headers: Vec::new(),
    })
}
