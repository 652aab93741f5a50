//! Verification of the four request-signature schemes that hashscan's cloud dialects accept.
//!
//! The official Tencent COS, Alibaba Cloud and Volcengine SDKs sign every request; a server that
//! wants those SDKs to work unchanged has to recompute the signature exactly as they do. This
//! crate does that and nothing else: it is plain synchronous code with no HTTP framework, no
//! clock and no I/O, so that it can be tested against the published vectors
//! (`shared/specs/signature-vectors.json`) and fuzzed.
//!
//! The caller describes the request with a [`RequestParts`] (method, decoded path, query,
//! headers, body or body hash), passes the current time as Unix seconds and a [`KeyLookup`] that
//! maps an access key id to its [`Secret`]. Each scheme's `verify` parses the credential
//! material, recomputes the signature, compares it in constant time, checks the time window and
//! returns a [`Verified`] or an [`AuthError`] whose variants each dialect maps to its own wire
//! error code. Nonce-replay refusal is left to the caller, which owns the state:
//! [`Verified::nonce`] and [`Verified::expires_at`] say what to remember and for how long.
//!
//! # The schemes
//!
//! | module | scheme | used by | spec |
//! | --- | --- | --- | --- |
//! | [`cos`] | `q-sign-algorithm=sha1` (HMAC-SHA1 over a derived SignKey) | every COS/CI SDK | `cos-ci.md` §5 |
//! | [`aliyun_v3`] | `ACS3-HMAC-SHA256` `Authorization` header | current Alibaba SDKs (default) | `detection-apis.md` §2.2 |
//! | [`aliyun_v2`] | RPC `Signature` query parameter, HMAC-SHA1 | legacy Alibaba SDKs, CLI, `signature_algorithm='v2'` | `detection-apis.md` §2.3 |
//! | [`volc`] | `HMAC-SHA256` `Authorization` header, SigV4-style key derivation | Volcengine SDKs | `detection-apis.md` §3.3 |
//!
//! # Where each scheme reads its inputs
//!
//! | input | COS | Alibaba V3 | Alibaba V2 | Volcengine |
//! | --- | --- | --- | --- | --- |
//! | credential | `Authorization` header, or the `q-*` query parameters (presigned URL) | `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` | query `AccessKeyId`, `Signature`, `SignatureMethod`, `SignatureVersion` | `Authorization: HMAC-SHA256 Credential=AK/date/region/service/request, SignedHeaders=…, Signature=…` |
//! | time | `q-sign-time` and `q-key-time` windows | `x-acs-date` (`YYYY-MM-DDTHH:MM:SSZ`) | query `Timestamp` (same format) | `X-Date` (`YYYYMMDDTHHMMSSZ`) and the scope date |
//! | nonce | none | `x-acs-signature-nonce` | query `SignatureNonce` | none |
//! | signed headers | those in `q-header-list` | those in `SignedHeaders` | none | those in `SignedHeaders` |
//! | signed query | those in `q-url-param-list` | all parameters | all parameters but `Signature` (plus a form body) | all parameters |
//! | path | decoded, verbatim | RFC 3986-encoded, `/` kept | not signed (always `/`) | RFC 3986-encoded, `/` kept |
//! | body | not signed | `x-acs-content-sha256` = SHA-256 of the body | only a form body's parameters | `X-Content-Sha256` = SHA-256 of the body |
//! | `+` in the raw query | a space ([`encode::Plus::Space`]: the SDKs form-encode queries, a plus is `%2B`) | a space | a space | a space |
//!
//! An Alibaba dialect tells the two versions apart by the request: an `Authorization` header
//! starting with `ACS3-` is V3, a `Signature` query parameter is V2 (see
//! [`aliyun_v3::is_present`] and [`aliyun_v2::is_present`]).
//!
//! # Errors and time
//!
//! Time windows are configurable per scheme (`Options` in each module); the defaults and the
//! documents they come from are given there. A request is refused with [`AuthError::Expired`]
//! when it is too old, [`AuthError::NotYetValid`] when a COS window starts too far in the future
//! and [`AuthError::TimeSkewed`] when a timestamp is too far in the future. The time is checked
//! after the signature, so a time error always concerns a request that was otherwise authentic.

mod canon;
pub mod encode;
mod error;
mod mac;
mod request;
mod secret;
pub mod time;

pub mod aliyun_v2;
pub mod aliyun_v3;
pub mod cos;
pub mod volc;

pub use error::AuthError;
pub use request::{HeaderSource, Payload, Query, RequestParts};
pub use secret::{KeyLookup, Secret};

use std::fmt;

/// Upper bound on the length of an `Authorization` header (or of one credential query
/// parameter) that is parsed at all. Real values are below 1 KiB; refusing larger ones early
/// keeps hostile inputs from costing more than a bounded amount of work.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// Which scheme authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Tencent COS q-sign (HMAC-SHA1).
    Cos,
    /// Alibaba Cloud ACS3-HMAC-SHA256.
    AliyunV3,
    /// Alibaba Cloud RPC signature V2 (HMAC-SHA1).
    AliyunV2,
    /// Volcengine HMAC-SHA256.
    Volc,
}

/// A successfully verified request.
///
/// The fields are what the server needs after authentication: whom to authorise, and what to
/// remember to refuse a replay (`nonce` until `expires_at`).
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    /// The scheme that was verified.
    pub scheme: Scheme,
    /// The access key id (COS SecretId, Alibaba AccessKeyId, Volcengine AK).
    pub access_key_id: String,
    /// The client's one-time nonce, when the scheme has one (Alibaba V3 and V2).
    pub nonce: Option<String>,
    /// When the request was signed, in Unix seconds (COS: the start of `q-sign-time`).
    pub signed_at: i64,
    /// The last second at which this same request would still be accepted; a nonce need not be
    /// remembered after it.
    pub expires_at: i64,
    /// An STS security token sent with (and signed in) the request, for the server to check.
    pub security_token: Option<String>,
    /// Volcengine only: the region of the credential scope.
    pub region: Option<String>,
    /// Volcengine only: the service of the credential scope.
    pub service: Option<String>,
    /// COS only: the query parameters the signature covers (`q-url-param-list`, lower-case,
    /// decoded). The other schemes sign every parameter, so it stays empty for them.
    pub signed_params: Vec<String>,
    /// COS only: the headers the signature covers (`q-header-list`, lower-case, decoded).
    pub signed_headers: Vec<String>,
}

impl Verified {
    /// Whether the signature covers the query parameter `name` (any case). Always true for
    /// the schemes that sign every parameter (Alibaba V2/V3, Volcengine).
    #[must_use]
    pub fn covers_param(&self, name: &str) -> bool {
        self.scheme != Scheme::Cos
            || self
                .signed_params
                .iter()
                .any(|p| p.eq_ignore_ascii_case(name))
    }

    /// Whether the signature covers the header `name` (any case). Always true for the
    /// other schemes, whose verifiers already require the headers they need signed.
    #[must_use]
    pub fn covers_header(&self, name: &str) -> bool {
        self.scheme != Scheme::Cos
            || self
                .signed_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("access_key_id", &self.access_key_id)
            .field("nonce", &self.nonce)
            .field("signed_at", &self.signed_at)
            .field("expires_at", &self.expires_at)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_params", &self.signed_params)
            .field("signed_headers", &self.signed_headers)
            .finish()
    }
}
