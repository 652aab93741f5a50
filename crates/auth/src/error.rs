/// Why a request failed authentication.
///
/// The variants are fine-grained so that each API dialect can map them to its own wire codes
/// (COS `MissingAuthorization`/`InvalidAuthorization`/`SecretidNotExist`/`SignatureExpired`/
/// `SignatureDoesNotMatch`, Alibaba `InvalidAccessKeyId.NotFound`/`InvalidTimeStamp.Expired`/
/// `SignatureDoesNotMatch`, Volcengine `InvalidAccessKey`/`InvalidTimestamp`/…). Messages never
/// contain a secret, and contain request text only where it was validated first (header and
/// parameter names from a signed list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no credential of this scheme at all.
    #[error("the request is not signed")]
    Missing,
    /// The credential material is present but cannot be parsed.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// The request names a signature algorithm or version this crate does not implement.
    #[error("unsupported signature algorithm")]
    UnsupportedAlgorithm,
    /// The access key id is not known to the key lookup.
    #[error("unknown access key id")]
    UnknownAccessKey,
    /// The signature does not match the one recomputed from the request.
    #[error("signature does not match")]
    SignatureMismatch,
    /// A header named in the signed-header list is absent from the request.
    #[error("signed header {0} is absent from the request")]
    MissingSignedHeader(String),
    /// A query parameter named in the signed-parameter list (COS) is absent from the request.
    #[error("signed parameter {0} is absent from the request")]
    MissingSignedParam(String),
    /// A header that must be covered by the signature is not in the signed-header list.
    #[error("header {0} must be signed")]
    HeaderNotSigned(&'static str),
    /// A header the scheme requires (a date, a body hash) is absent.
    #[error("required header {0} is absent")]
    MissingHeader(&'static str),
    /// The body does not hash to the signed body hash.
    #[error("the body does not match its signed SHA-256")]
    ContentHashMismatch,
    /// The signature is too old: its validity window ended, or its timestamp is further in the
    /// past than the scheme allows.
    #[error("the signature has expired")]
    Expired,
    /// The COS validity window starts further in the future than the allowed clock skew.
    #[error("the signature is not yet valid")]
    NotYetValid,
    /// The request timestamp is further in the future than the allowed clock skew.
    #[error("the request time is too far in the future")]
    TimeSkewed,
    /// The Volcengine credential scope names another service or region than configured.
    #[error("credential scope not accepted by this endpoint")]
    ScopeMismatch,
}

impl AuthError {
    /// Whether the error concerns only the request time (the signature itself was correct).
    pub fn is_time_error(&self) -> bool {
        matches!(self, Self::Expired | Self::NotYetValid | Self::TimeSkewed)
    }
}
