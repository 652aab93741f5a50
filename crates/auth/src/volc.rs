//! Volcengine SignerV4, `HMAC-SHA256` (detection-apis.md §3.3).
//!
//! ```text
//! Authorization: HMAC-SHA256 Credential=<AK>/<YYYYMMDD>/<region>/<service>/request,
//!                SignedHeaders=<h1;h2;…>, Signature=<hex>
//! CanonicalRequest = METHOD \n URI \n CanonicalQueryString \n CanonicalHeaders \n
//!                    SignedHeaders \n X-Content-Sha256
//! StringToSign     = "HMAC-SHA256" \n X-Date \n <date>/<region>/<service>/request \n
//!                    hex(SHA256(CanonicalRequest))
//! kSigning         = HMAC(HMAC(HMAC(HMAC(SK, date), region), service), "request")
//! Signature        = hex(HMAC-SHA256(kSigning, StringToSign))
//! ```
//!
//! Unlike AWS SigV4 the secret is used with no prefix. The query is sorted by (name, value) and
//! RFC 3986-encoded; a signed `host` value loses a trailing `:80` or `:443`, as the SDK does when
//! signing.
//!
//! Server-side rules (spec §3.3 "Server verification", with the choices made here):
//! * `x-date` must be signed, and `x-content-sha256` and `x-security-token` when sent; `host`
//!   need not be (Volcengine's gateway accepts signatures without it, and the official Node.js
//!   signer leaves it out): a signed `host` is checked like any signed header;
//! * the scope date must equal the first 8 characters of `X-Date`, the terminator must be
//!   `request`, and the service and region must match [`Options`] when set
//!   ([`AuthError::ScopeMismatch`]);
//! * `X-Content-Sha256`, when sent, must equal the SHA-256 of the body; when absent the body's
//!   own hash is what the canonical request ends with;
//! * `X-Date` within ±15 minutes of now: the spec leaves the window UNCONFIRMED (§3.1, §5
//!   item 6) and notes that SigV4-style services typically use 15 minutes;
//! * the wire query is form-decoded (`+` is a space), as the Python SDK form-encodes it.

use crate::canon::{
    canonical_headers, canonical_query, canonical_request, parse_signed_headers, require_signed,
    split_authorization,
};
use crate::encode::Plus;
use crate::mac::{ct_eq, hex_array, hmac_sha256, sha256};
use crate::time::{add, check_timestamp, parse_x_date};
use crate::{AuthError, HeaderSource, KeyLookup, RequestParts, Scheme, Secret, Verified};

use std::fmt;

/// The algorithm name in the `Authorization` header and the StringToSign.
pub const ALGORITHM: &str = "HMAC-SHA256";

/// The fixed last element of a credential scope.
pub const TERMINATOR: &str = "request";

/// Headers every request must sign.
pub const REQUIRED_SIGNED_HEADERS: [&str; 1] = ["x-date"];

/// Headers that must be signed when the request carries them.
pub const SIGNED_IF_PRESENT: [&str; 2] = ["x-content-sha256", "x-security-token"];

/// Verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Largest allowed difference between `X-Date` and now, either way: 900 s.
    pub max_skew: u64,
    /// The service the credential scope must name (`nta` for the file-detection API), or any.
    pub service: Option<String>,
    /// The region the credential scope must name, or any.
    pub region: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_skew: 900,
            service: None,
            region: None,
        }
    }
}

/// `<date>/<region>/<service>/request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// `YYYYMMDD`.
    pub date: String,
    /// Region, e.g. `cn-beijing`.
    pub region: String,
    /// Service, e.g. `nta`.
    pub service: String,
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolcAuth {
    /// The AK of `Credential`.
    pub access_key_id: String,
    /// The rest of `Credential`.
    pub scope: CredentialScope,
    /// `SignedHeaders`, split, in the order given.
    pub signed_headers: Vec<String>,
    /// `Signature`, decoded.
    pub signature: [u8; 32],
}

/// Parses `HMAC-SHA256 Credential=AK/date/region/service/request, SignedHeaders=…, Signature=…`.
pub fn parse_authorization(value: &str) -> Result<VolcAuth, AuthError> {
    let (algorithm, fields) = split_authorization(value)?;
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let mut parts = fields.credential.rsplitn(5, '/');
    let malformed = AuthError::Malformed("Credential is not AK/date/region/service/request");
    let terminator = parts.next().ok_or(malformed.clone())?;
    let service = parts.next().ok_or(malformed.clone())?;
    let region = parts.next().ok_or(malformed.clone())?;
    let date = parts.next().ok_or(malformed.clone())?;
    let ak = parts.next().ok_or(malformed.clone())?;
    if terminator != TERMINATOR || [service, region, ak].iter().any(|s| s.is_empty()) {
        return Err(malformed);
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Malformed(
            "credential scope date is not YYYYMMDD",
        ));
    }
    Ok(VolcAuth {
        access_key_id: ak.to_owned(),
        scope: CredentialScope {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
        signed_headers: parse_signed_headers(fields.signed_headers)?,
        signature: hex_array(fields.signature)
            .ok_or(AuthError::Malformed("Signature is not 64 hex digits"))?,
    })
}

/// `CanonicalQueryString`: RFC 3986-encoded pairs sorted by (name, value), joined with `&`.
pub fn canonical_query_string<'x>(pairs: impl IntoIterator<Item = (&'x str, &'x str)>) -> String {
    canonical_query(pairs, true)
}

/// The signed value of `host`: without a trailing `:80` or `:443`.
pub fn normalize_host(host: &str) -> &str {
    host.strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
        .unwrap_or(host)
}

fn header_value(name: &str, value: String) -> String {
    if name == "host" {
        normalize_host(&value).to_owned()
    } else {
        value
    }
}

/// `StringToSign = "HMAC-SHA256" \n X-Date \n scope \n hex(SHA256(CanonicalRequest))`.
pub fn string_to_sign(x_date: &str, scope: &CredentialScope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{x_date}\n{scope}\n{}",
        hex::encode(sha256(canonical_request.as_bytes()))
    )
}

/// `kSigning`: the secret HMAC-chained with date, region, service and `request`. It is
/// secret-equivalent for that day, region and service.
pub fn signing_key(secret: &Secret, scope: &CredentialScope) -> [u8; 32] {
    let k_date = hmac_sha256(secret.expose().as_bytes(), scope.date.as_bytes());
    let k_region = hmac_sha256(&k_date, scope.region.as_bytes());
    let k_service = hmac_sha256(&k_region, scope.service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// `HMAC-SHA256(kSigning, StringToSign)`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> [u8; 32] {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
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
    /// `X-Date` (`YYYYMMDDTHHMMSSZ`); the scope date is its first 8 characters.
    pub x_date: &'a str,
    /// Region of the credential scope.
    pub region: &'a str,
    /// Service of the credential scope.
    pub service: &'a str,
    /// `X-Content-Sha256`: hex SHA-256 of the body.
    pub payload_hash: &'a str,
}

/// A computed Volcengine signature with its intermediate strings.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// `CanonicalQueryString`.
    pub canonical_query_string: String,
    /// `CanonicalRequest`.
    pub canonical_request: String,
    /// `hex(SHA256(CanonicalRequest))`.
    pub hashed_canonical_request: String,
    /// `<date>/<region>/<service>/request`.
    pub credential_scope: String,
    /// `StringToSign`.
    pub string_to_sign: String,
    /// Hex `kSigning` (secret-equivalent; left out of `Debug`).
    pub signing_key_hex: String,
    /// `SignedHeaders`.
    pub signed_headers: String,
    /// `Signature`, lower-case hex.
    pub signature: String,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("canonical_request", &self.canonical_request)
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl Signed {
    /// The `Authorization` header value (`", "` separators, as the SDK writes them).
    pub fn authorization(&self, access_key_id: &str) -> String {
        format!(
            "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={}",
            self.credential_scope, self.signed_headers, self.signature
        )
    }
}

/// Signs `req` (for hashscan's own clients and tests); fails when a header to sign is missing
/// from `req.headers` or `x_date` is shorter than a date.
pub fn sign(secret: &Secret, req: &SignRequest<'_>) -> Result<Signed, AuthError> {
    let date = req
        .x_date
        .get(..8)
        .ok_or(AuthError::Malformed("X-Date is not YYYYMMDDTHHMMSSZ"))?;
    let scope = CredentialScope {
        date: date.to_owned(),
        region: req.region.to_owned(),
        service: req.service.to_owned(),
    };
    let canonical_query_string =
        canonical_query_string(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let headers = canonical_headers(req.headers, req.signed_headers, header_value)?;
    let signed_headers = req.signed_headers.join(";");
    let canonical_request = canonical_request(
        req.method,
        req.path,
        &canonical_query_string,
        &headers,
        &signed_headers,
        req.payload_hash,
    );
    let string_to_sign = string_to_sign(req.x_date, &scope, &canonical_request);
    let key = signing_key(secret, &scope);
    Ok(Signed {
        hashed_canonical_request: hex::encode(sha256(canonical_request.as_bytes())),
        canonical_query_string,
        canonical_request,
        credential_scope: scope.to_string(),
        signature: hex::encode(signature(&key, &string_to_sign)),
        string_to_sign,
        signing_key_hex: hex::encode(key),
        signed_headers,
    })
}

/// Verifies a Volcengine-signed request against `keys` at `now` (Unix seconds).
///
/// [`AuthError::Missing`] without an `Authorization` header. On success [`Verified::region`] and
/// [`Verified::service`] carry the credential scope; there is no nonce in this scheme.
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
    let wrong = |want: &Option<String>, got: &str| want.as_deref().is_some_and(|w| w != got);
    if wrong(&opts.service, &auth.scope.service) || wrong(&opts.region, &auth.scope.region) {
        return Err(AuthError::ScopeMismatch);
    }
    let secret = keys
        .secret(&auth.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;

    let headers = canonical_headers(req.headers, &auth.signed_headers, header_value)?;
    let x_date = req
        .header_single("x-date", "repeated X-Date header")?
        .map(|v| v.trim().to_owned())
        .ok_or(AuthError::MissingHeader("x-date"))?;
    let ts = parse_x_date(&x_date).ok_or(AuthError::Malformed("X-Date is not YYYYMMDDTHHMMSSZ"))?;
    if x_date.get(..8) != Some(auth.scope.date.as_str()) {
        return Err(AuthError::ScopeMismatch);
    }
    let sent_hash = req
        .header_single("x-content-sha256", "repeated X-Content-Sha256 header")?
        .map(|v| v.trim().to_owned());
    let body_hash = req.body_sha256();
    let payload_hash = sent_hash.clone().unwrap_or_else(|| hex::encode(body_hash));

    let query = req.query_pairs(Plus::Space);
    let cqs = canonical_query_string(query.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    let canonical = canonical_request(
        req.method,
        req.path,
        &cqs,
        &headers,
        &auth.signed_headers.join(";"),
        &payload_hash,
    );
    let sts = string_to_sign(&x_date, &auth.scope, &canonical);
    if !ct_eq(
        &signature(&signing_key(&secret, &auth.scope), &sts),
        &auth.signature,
    ) {
        return Err(AuthError::SignatureMismatch);
    }

    check_timestamp(ts, now, opts.max_skew, opts.max_skew)?;
    if sent_hash.is_some() {
        match hex_array::<32>(&payload_hash) {
            Some(h) if ct_eq(&h, &body_hash) => {}
            _ => return Err(AuthError::ContentHashMismatch),
        }
    }

    Ok(Verified {
        scheme: Scheme::Volc,
        access_key_id: auth.access_key_id,
        nonce: None,
        signed_at: ts,
        expires_at: add(ts, opts.max_skew),
        security_token: req.header_joined("x-security-token"),
        region: Some(auth.scope.region),
        service: Some(auth.scope.service),
        signed_params: Vec::new(),
        signed_headers: Vec::new(),
    })
}
