//! Pieces shared by the two SigV4-shaped schemes, Alibaba V3 and Volcengine: both sign a
//! canonical request of the same layout over the headers listed in `SignedHeaders`.

use crate::encode::{is_lower_header_name, join_encoded, rfc3986_path};
use crate::{AuthError, HeaderSource, MAX_CREDENTIAL_LEN};

/// `Credential`, `SignedHeaders` and `Signature` of an `Authorization` header.
pub(crate) struct AuthFields<'a> {
    pub(crate) credential: &'a str,
    pub(crate) signed_headers: &'a str,
    pub(crate) signature: &'a str,
}

/// Splits `<ALGORITHM> Credential=…,SignedHeaders=…,Signature=…` (Volcengine puts a space after
/// each comma, Alibaba none; both are accepted). Returns the algorithm token and the fields;
/// unknown fields are ignored, a repeated or missing one is malformed.
pub(crate) fn split_authorization(value: &str) -> Result<(&str, AuthFields<'_>), AuthError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AuthError::Malformed("empty Authorization header"));
    }
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(AuthError::Malformed("credential too long"));
    }
    if !value.is_ascii() {
        return Err(AuthError::Malformed("credential is not ASCII"));
    }
    let (algorithm, rest) = value
        .split_once(' ')
        .ok_or(AuthError::Malformed("Authorization has no fields"))?;
    if algorithm.is_empty()
        || !algorithm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(AuthError::Malformed("invalid algorithm token"));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in rest.split(',') {
        let field = field.trim();
        let (k, v) = field
            .split_once('=')
            .ok_or(AuthError::Malformed("Authorization field without '='"))?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(AuthError::Malformed("repeated Authorization field"));
        }
    }
    Ok((
        algorithm,
        AuthFields {
            credential: credential.ok_or(AuthError::Malformed("missing Credential"))?,
            signed_headers: signed_headers.ok_or(AuthError::Malformed("missing SignedHeaders"))?,
            signature: signature.ok_or(AuthError::Malformed("missing Signature"))?,
        },
    ))
}

/// Parses `SignedHeaders` (`h1;h2;…`): non-empty lower-case header names, none repeated. The
/// names are kept in the order given, since the list is signed as sent.
pub(crate) fn parse_signed_headers(s: &str) -> Result<Vec<String>, AuthError> {
    let mut out: Vec<String> = Vec::new();
    for name in s.split(';') {
        if !is_lower_header_name(name) {
            return Err(AuthError::Malformed(
                "SignedHeaders entry is not a lower-case header name",
            ));
        }
        if out.iter().any(|n| n == name) {
            return Err(AuthError::Malformed("repeated SignedHeaders entry"));
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

/// Refuses a signed-header list that leaves out a header the scheme requires to be signed
/// (`required`), or one of `if_present` that the request carries.
pub(crate) fn require_signed(
    signed: &[String],
    headers: &dyn HeaderSource,
    required: &[&'static str],
    if_present: &[&'static str],
) -> Result<(), AuthError> {
    let is_signed = |name: &str| signed.iter().any(|s| s == name);
    for name in required {
        if !is_signed(name) {
            return Err(AuthError::HeaderNotSigned(name));
        }
    }
    for name in if_present {
        if !is_signed(name) && !values(headers, name).is_empty() {
            return Err(AuthError::HeaderNotSigned(name));
        }
    }
    Ok(())
}

pub(crate) fn values(headers: &dyn HeaderSource, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    headers.for_each_value(name, &mut |v| out.push(v.to_owned()));
    out
}

/// `name:value\n` for each signed header, in the order listed: values trimmed, a repeated
/// header's values joined with `,`, `map` applied to the value (Volcengine's host rule).
pub(crate) fn canonical_headers(
    headers: &dyn HeaderSource,
    names: &[String],
    map: impl Fn(&str, String) -> String,
) -> Result<String, AuthError> {
    let mut out = String::new();
    for name in names {
        let vals = values(headers, name);
        if vals.is_empty() {
            return Err(AuthError::MissingSignedHeader(name.clone()));
        }
        let joined = vals.iter().map(|v| v.trim()).collect::<Vec<_>>().join(",");
        out.push_str(name);
        out.push(':');
        out.push_str(&map(name, joined));
        out.push('\n');
    }
    Ok(out)
}

/// RFC 3986-encoded `name=value` pairs sorted by decoded name (and by value too when
/// `by_value`), joined with `&`. The sort is stable.
pub(crate) fn canonical_query<'x>(
    pairs: impl IntoIterator<Item = (&'x str, &'x str)>,
    by_value: bool,
) -> String {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    if by_value {
        pairs.sort();
    } else {
        pairs.sort_by(|a, b| a.0.cmp(b.0));
    }
    join_encoded(pairs)
}

/// `METHOD \n URI \n Query \n CanonicalHeaders \n SignedHeaders \n PayloadHash`, the URI being the
/// decoded path RFC 3986-encoded with `/` kept (CanonicalHeaders already ends in `\n`).
pub(crate) fn canonical_request(
    method: &str,
    path: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        rfc3986_path(path)
    )
}

/// Refuses repeated query parameter names (Alibaba sends a map; a repeated name would let the
/// application and the signature see different values).
pub(crate) fn reject_repeated<'x>(
    names: impl IntoIterator<Item = &'x str>,
) -> Result<(), AuthError> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        Err(AuthError::Malformed("repeated query parameter"))
    } else {
        Ok(())
    }
}
