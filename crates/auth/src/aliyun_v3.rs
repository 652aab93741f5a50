//! Alibaba Cloud signature V3, `ACS3-HMAC-SHA256` (detection-apis.md §2.2), the default of
//! current Alibaba SDKs.
//!
//! ```text
//! Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<h1;h2;…>,Signature=<hex>
//! CanonicalRequest = METHOD \n URI \n CanonicalQueryString \n CanonicalHeaders \n
//!                    SignedHeaders \n x-acs-content-sha256
//! StringToSign     = "ACS3-HMAC-SHA256" \n hex(SHA256(CanonicalRequest))
//! Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
//! ```
//!
//! The query string is RFC 3986-encoded and sorted by name; the headers are those listed in
//! `SignedHeaders`, taken from the request as received (`name:trim(value)`).
//!
//! Server-side rules (spec §2.2 "Server-side verification", with the choices made here):
//! * `host`, `x-acs-action`, `x-acs-version`, `x-acs-date`, `x-acs-signature-nonce` and
//!   `x-acs-content-sha256` must all be signed (the documentation's minimum, and what every SDK
//!   signs; an unsigned `x-acs-action` would let a signature for one API be replayed on
//!   another); `x-acs-security-token` and `x-acs-accesskey-id` must be signed when sent;
//! * `x-acs-content-sha256` must equal the SHA-256 of the body;
//! * `x-acs-date` must be within ±15 minutes of now ("must be within 15 minutes",
//!   <https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature>, cited in
//!   spec §1.9);
//! * a repeated query parameter name is refused (the SDKs send a map);
//! * the wire query is form-decoded (`+` is a space, spec §2.1).

use crate::canon::{
    canonical_headers, canonical_query, canonical_request, parse_signed_headers, reject_repeated,
    require_signed, split_authorization,
};
use crate::encode::Plus;
use crate::mac::{ct_eq, hex_array, hmac_sha256, sha256};
use crate::time::{add, check_timestamp, parse_acs_date};
use crate::{AuthError, HeaderSource, KeyLookup, RequestParts, Scheme, Secret, Verified};

/// The algorithm name in the `Authorization` header and the StringToSign.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Headers every V3 request must sign.
pub const REQUIRED_SIGNED_HEADERS: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

/// Headers that must be signed when the request carries them.
pub const SIGNED_IF_PRESENT: [&str; 2] = ["x-acs-security-token", "x-acs-accesskey-id"];

/// Verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Largest allowed difference between `x-acs-date` and now, either way: 900 s, the
    /// documented 15 minutes.
    pub max_skew: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self { max_skew: 900 }
    }
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Auth {
    /// `Credential`: the AccessKeyId.
    pub access_key_id: String,
    /// `SignedHeaders`, split, in the order given.
    pub signed_headers: Vec<String>,
    /// `Signature`, decoded.
    pub signature: [u8; 32],
}

impl V3Auth {
    /// `SignedHeaders` as it appears in the canonical request.
    pub fn signed_headers_text(&self) -> String {
        self.signed_headers.join(";")
    }
}

/// Whether `req` carries an `ACS3-` `Authorization` header, i.e. is meant as a V3 request.
pub fn is_present(req: &RequestParts<'_>) -> bool {
    req.header_values("authorization")
        .iter()
        .any(|v| v.trim_start().starts_with("ACS3-"))
}

/// Parses an `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` header value.
/// Another `ACS3-*` algorithm (`ACS3-HMAC-SM3`, `ACS3-RSA-SHA256`) is
/// [`AuthError::UnsupportedAlgorithm`].
pub fn parse_authorization(value: &str) -> Result<V3Auth, AuthError> {
    if !value.trim_start().starts_with("ACS3-") {
        return Err(AuthError::Malformed("not an ACS3 Authorization header"));
    }
    let (algorithm, fields) = split_authorization(value)?;
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    if fields.credential.is_empty() {
        return Err(AuthError::Malformed("empty Credential"));
    }
    Ok(V3Auth {
        access_key_id: fields.credential.to_owned(),
        signed_headers: parse_signed_headers(fields.signed_headers)?,
        signature: hex_array(fields.signature)
            .ok_or(AuthError::Malformed("Signature is not 64 hex digits"))?,
    })
}

/// `CanonicalQueryString`: RFC 3986-encoded `name=value` pairs sorted by name, joined with `&`.
pub fn canonical_query_string<'x>(pairs: impl IntoIterator<Item = (&'x str, &'x str)>) -> String {
    canonical_query(pairs, false)
}

/// `StringToSign = "ACS3-HMAC-SHA256" \n hex(SHA256(CanonicalRequest))`.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}",
        hex::encode(sha256(canonical_request.as_bytes()))
    )
}

/// `HMAC-SHA256(AccessKeySecret, StringToSign)`; the secret is used as is (no `&` suffix).
pub fn signature(secret: &Secret, string_to_sign: &str) -> [u8; 32] {
    hmac_sha256(secret.expose().as_bytes(), string_to_sign.as_bytes())
}

/// What a client signs.
#[derive(Clone, Copy)]
pub struct SignRequest<'a> {
    /// Request method.
    pub method: &'a str,
    /// Decoded path.
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// The request headers (may include unsigned ones).
    pub headers: &'a dyn HeaderSource,
    /// Lower-case names of the headers to sign, sorted.
    pub signed_headers: &'a [String],
    /// `x-acs-content-sha256`: hex SHA-256 of the body.
    pub payload_hash: &'a str,
}

/// A computed V3 signature with its intermediate strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `CanonicalQueryString`.
    pub canonical_query_string: String,
    /// `CanonicalRequest`.
    pub canonical_request: String,
    /// `hex(SHA256(CanonicalRequest))`.
    pub hashed_canonical_request: String,
    /// `StringToSign`.
    pub string_to_sign: String,
    /// `SignedHeaders`.
    pub signed_headers: String,
    /// `Signature`, lower-case hex.
    pub signature: String,
}

impl Signed {
    /// The `Authorization` header value.
    pub fn authorization(&self, access_key_id: &str) -> String {
        format!(
            "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={}",
            self.signed_headers, self.signature
        )
    }
}

/// Signs `req` (for hashscan's own clients and tests); fails only when a header to sign is
/// missing from `req.headers`.
pub fn sign(secret: &Secret, req: &SignRequest<'_>) -> Result<Signed, AuthError> {
    let canonical_query_string =
        canonical_query_string(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let headers = canonical_headers(req.headers, req.signed_headers, |_, v| v)?;
    let signed_headers = req.signed_headers.join(";");
    let canonical_request = canonical_request(
        req.method,
        req.path,
        &canonical_query_string,
        &headers,
        &signed_headers,
        req.payload_hash,
    );
    let hashed_canonical_request = hex::encode(sha256(canonical_request.as_bytes()));
    let string_to_sign = string_to_sign(&canonical_request);
    let signature = hex::encode(signature(secret, &string_to_sign));
    Ok(Signed {
        canonical_query_string,
        canonical_request,
        hashed_canonical_request,
        string_to_sign,
        signed_headers,
        signature,
    })
}

/// Verifies an `ACS3-HMAC-SHA256` request against `keys` at `now` (Unix seconds).
///
/// [`AuthError::Missing`] when there is no `Authorization` header: the Alibaba dialect then
/// tries [`crate::aliyun_v2`]. On success, [`Verified::nonce`] is `x-acs-signature-nonce` and
/// [`Verified::expires_at`] the end of the `x-acs-date` window.
pub fn verify(
    req: &RequestParts<'_>,
    keys: &dyn KeyLookup,
    now: i64,
    opts: &Options,
) -> Result<Verified, AuthError> {
    let value = req
        .header_single("authorization", "repeated Authorization header")?
        .ok_or(AuthError::Missing)?;
    let auth = parse_authorization(&value)?;
    require_signed(
        &auth.signed_headers,
        req.headers,
        &REQUIRED_SIGNED_HEADERS,
        &SIGNED_IF_PRESENT,
    )?;
    let secret = keys
        .secret(&auth.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;

    let query = req.query_pairs(Plus::Space);
    reject_repeated(query.iter().map(|(k, _)| k.as_ref()))?;
    let cqs = canonical_query_string(query.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    let headers = canonical_headers(req.headers, &auth.signed_headers, |_, v| v)?;
    let payload_hash = single(req, "x-acs-content-sha256")?;
    let canonical = canonical_request(
        req.method,
        req.path,
        &cqs,
        &headers,
        &auth.signed_headers_text(),
        &payload_hash,
    );
    if !ct_eq(
        &signature(&secret, &string_to_sign(&canonical)),
        &auth.signature,
    ) {
        return Err(AuthError::SignatureMismatch);
    }

    let date = single(req, "x-acs-date")?;
    let ts = parse_acs_date(&date).ok_or(AuthError::Malformed(
        "x-acs-date is not YYYY-MM-DDTHH:MM:SSZ",
    ))?;
    check_timestamp(ts, now, opts.max_skew, opts.max_skew)?;

    match hex_array::<32>(&payload_hash) {
        Some(h) if ct_eq(&h, &req.body_sha256()) => {}
        _ => return Err(AuthError::ContentHashMismatch),
    }

    let nonce = single(req, "x-acs-signature-nonce")?;
    if nonce.is_empty() {
        return Err(AuthError::Malformed("empty x-acs-signature-nonce"));
    }
    Ok(Verified {
        scheme: Scheme::AliyunV3,
        access_key_id: auth.access_key_id,
        nonce: Some(nonce),
        signed_at: ts,
        expires_at: add(ts, opts.max_skew),
        security_token: req.header_joined("x-acs-security-token"),
        region: None,
        service: None,
        signed_params: Vec::new(),
        signed_headers: Vec::new(),
    })
}

/// The trimmed value of a signed, single-valued header.
fn single(req: &RequestParts<'_>, name: &'static str) -> Result<String, AuthError> {
    req.header_single(name, "repeated x-acs-* header")?
        .map(|v| v.trim().to_owned())
        .ok_or(AuthError::MissingHeader(name))
}
