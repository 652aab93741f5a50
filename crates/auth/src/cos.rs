//! Tencent COS / Cloud Infinite request signature, `q-sign-algorithm=sha1` (cos-ci.md §5).
//!
//! ```text
//! SignKey      = hex(HMAC-SHA1(SecretKey, q-key-time))
//! HttpString   = lower(method) \n decoded-path \n HttpParameters \n HttpHeaders \n
//! StringToSign = "sha1" \n q-sign-time \n hex(SHA1(HttpString)) \n
//! Signature    = hex(HMAC-SHA1(SignKey as hex text, StringToSign))
//! ```
//!
//! `HttpParameters`/`HttpHeaders` are `k=v` pairs joined with `&`, the key RFC 3986-encoded then
//! lower-cased, the value RFC 3986-encoded, sorted by key. Only the names listed in
//! `q-url-param-list`/`q-header-list` are signed, with their values taken from the request as
//! received, so unsigned extras (PY's `?cancel`, `User-Agent`, …) are ignored.
//!
//! The credential comes in the `Authorization` header or, for a presigned URL, as the same
//! `q-*` fields in the query. A signed `host` is tried as received and then without its `:port`,
//! because PY signs the bare host name while GO signs `Host` as sent (cos-ci.md §5, §6).
//!
//! Decisions where the spec is silent (documented here, mirrored in the tests):
//! * a repeated signed header is signed as its values joined with `,`; a repeated signed query
//!   parameter contributes every occurrence, in wire order (GO `url.Values` behaviour);
//! * the request must fall inside both `q-sign-time` and `q-key-time`;
//! * unknown `q-*` fields are ignored, a repeated known field is malformed.

use std::borrow::Cow;
use std::fmt;

use crate::encode::{Plus, decode_component, rfc3986};
use crate::mac::{ct_eq, hex_array, hmac_sha1, sha1};
use crate::{AuthError, KeyLookup, MAX_CREDENTIAL_LEN, RequestParts, Scheme, Verified};

/// The only `q-sign-algorithm` COS defines.
pub const ALGORITHM: &str = "sha1";

/// Verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How far in the future the start of `q-sign-time`/`q-key-time` may be, for clients whose
    /// clock runs ahead. The spec says `start <= now <= end` (cos-ci.md §5); PY already backdates
    /// the start by 60 s, and 900 s (15 min) is the common skew allowance of the other clouds.
    /// The end of the window is never extended.
    pub max_start_skew: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_start_skew: 900,
        }
    }
}

/// A `<start>;<end>` pair of Unix seconds (`q-sign-time`, `q-key-time`).
///
/// The text is kept as received, because it is the text, not the numbers, that is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTime {
    text: String,
    start: i64,
    end: i64,
}

impl KeyTime {
    /// The window `start;end`, as an SDK renders it.
    pub fn new(start: i64, end: i64) -> Self {
        Self {
            text: format!("{start};{end}"),
            start,
            end,
        }
    }

    /// Parses `<start>;<end>`: two runs of at most 19 ASCII digits, `start <= end`.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        fn secs(s: &str) -> Option<i64> {
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        let (a, b) = text
            .split_once(';')
            .ok_or(AuthError::Malformed("time window is not <start>;<end>"))?;
        let start = secs(a).ok_or(AuthError::Malformed("time window start is not a number"))?;
        let end = secs(b).ok_or(AuthError::Malformed("time window end is not a number"))?;
        if start > end {
            return Err(AuthError::Malformed("time window starts after it ends"));
        }
        Ok(Self {
            text: text.to_owned(),
            start,
            end,
        })
    }

    /// The exact text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Start, Unix seconds.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// End, Unix seconds.
    pub fn end(&self) -> i64 {
        self.end
    }

    fn check(&self, now: i64, max_start_skew: u64) -> Result<(), AuthError> {
        if now > self.end {
            Err(AuthError::Expired)
        } else if i128::from(self.start) - i128::from(now) > i128::from(max_start_skew) {
            Err(AuthError::NotYetValid)
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for KeyTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where the credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// The `Authorization` header.
    Header,
    /// `q-*` query parameters (presigned URL).
    Query,
}

/// The parsed COS credential fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosAuth {
    /// `q-ak`: the SecretId.
    pub access_key_id: String,
    /// `q-sign-time`: goes into the StringToSign.
    pub sign_time: KeyTime,
    /// `q-key-time`: derives the SignKey.
    pub key_time: KeyTime,
    /// `q-header-list`, lower-cased, in the order given.
    pub header_list: Vec<String>,
    /// `q-url-param-list`, lower-cased, in the order given.
    pub url_param_list: Vec<String>,
    /// `q-signature`, decoded.
    pub signature: [u8; 20],
    /// Where the fields were found.
    pub source: CredentialSource,
}

/// Parses an `Authorization` header value
/// (`q-sign-algorithm=sha1&q-ak=…&q-sign-time=…&q-key-time=…&q-header-list=…&q-url-param-list=…&q-signature=…`).
pub fn parse_authorization(value: &str) -> Result<CosAuth, AuthError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AuthError::Malformed("empty Authorization header"));
    }
    check_credential_text(value)?;
    let mut fields = Vec::new();
    for segment in value.split('&').filter(|s| !s.is_empty()) {
        let field = segment
            .split_once('=')
            .ok_or(AuthError::Malformed("Authorization field without '='"))?;
        fields.push(field);
    }
    from_fields(fields, CredentialSource::Header)
}

/// Parses the `q-*` fields of a presigned URL from decoded query pairs; `Ok(None)` when the query
/// carries none of `q-sign-algorithm`, `q-ak` or `q-signature`.
pub fn parse_query<'x>(
    pairs: impl IntoIterator<Item = (&'x str, &'x str)>,
) -> Result<Option<CosAuth>, AuthError> {
    let fields: Vec<(&str, &str)> = pairs
        .into_iter()
        .filter(|(k, _)| k.starts_with("q-"))
        .collect();
    let present = fields
        .iter()
        .any(|(k, _)| matches!(*k, "q-sign-algorithm" | "q-ak" | "q-signature"));
    if !present {
        return Ok(None);
    }
    for (_, v) in &fields {
        check_credential_text(v)?;
    }
    from_fields(fields, CredentialSource::Query).map(Some)
}

/// Finds and parses the credential of `req`: the `Authorization` header if present, else the
/// `q-*` query parameters.
pub fn extract(req: &RequestParts<'_>) -> Result<CosAuth, AuthError> {
    if let Some(value) = req.header_single("authorization", "repeated Authorization header")? {
        return parse_authorization(&value);
    }
    let pairs = req.query_pairs(Plus::Space);
    parse_query(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?.ok_or(AuthError::Missing)
}

fn check_credential_text(s: &str) -> Result<(), AuthError> {
    if s.len() > MAX_CREDENTIAL_LEN {
        Err(AuthError::Malformed("credential too long"))
    } else if !s.is_ascii() {
        Err(AuthError::Malformed("credential is not ASCII"))
    } else {
        Ok(())
    }
}

fn from_fields(fields: Vec<(&str, &str)>, source: CredentialSource) -> Result<CosAuth, AuthError> {
    let mut algorithm = None;
    let mut ak = None;
    let mut sign_time = None;
    let mut key_time = None;
    let mut header_list = None;
    let mut param_list = None;
    let mut signature = None;
    for (k, v) in fields {
        let slot = match k {
            "q-sign-algorithm" => &mut algorithm,
            "q-ak" => &mut ak,
            "q-sign-time" => &mut sign_time,
            "q-key-time" => &mut key_time,
            "q-header-list" => &mut header_list,
            "q-url-param-list" => &mut param_list,
            "q-signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(AuthError::Malformed("repeated q-* field"));
        }
    }
    // Every field must be there before any value is judged, so that a truncated header is
    // malformed rather than, say, an unsupported algorithm `sha`.
    let algorithm = algorithm.ok_or(AuthError::Malformed("missing q-sign-algorithm"))?;
    let ak = ak.ok_or(AuthError::Malformed("missing q-ak"))?;
    let sign_time = sign_time.ok_or(AuthError::Malformed("missing q-sign-time"))?;
    let key_time = key_time.ok_or(AuthError::Malformed("missing q-key-time"))?;
    let header_list = header_list.ok_or(AuthError::Malformed("missing q-header-list"))?;
    let param_list = param_list.ok_or(AuthError::Malformed("missing q-url-param-list"))?;
    let signature = signature.ok_or(AuthError::Malformed("missing q-signature"))?;
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    if ak.is_empty() {
        return Err(AuthError::Malformed("empty q-ak"));
    }
    let sign_time = KeyTime::parse(sign_time)?;
    let key_time = KeyTime::parse(key_time)?;
    let header_list = parse_list(header_list)?;
    let url_param_list = parse_list(param_list)?;
    let signature =
        hex_array(signature).ok_or(AuthError::Malformed("q-signature is not 40 hex digits"))?;
    Ok(CosAuth {
        access_key_id: ak.to_owned(),
        sign_time,
        key_time,
        header_list,
        url_param_list,
        signature,
        source,
    })
}

/// A `;`-separated list of encoded, lower-cased names: visible ASCII, no empty or repeated entry.
fn parse_list(s: &str) -> Result<Vec<String>, AuthError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = Vec::new();
    for name in s.split(';') {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthError::Malformed(
                "invalid name in q-header-list/q-url-param-list",
            ));
        }
        let name = name.to_ascii_lowercase();
        if out.contains(&name) {
            return Err(AuthError::Malformed(
                "repeated name in q-header-list/q-url-param-list",
            ));
        }
        out.push(name);
    }
    Ok(out)
}

/// The canonical `k=v&…` string and the `k;…` list of `pairs` (COS `HttpParameters` and
/// `UrlParamList`, or `HttpHeaders` and `HeaderList`): key encoded then lower-cased, value
/// encoded, sorted by key (stable, so repeated keys keep their order).
pub fn format_pairs<'x>(pairs: impl IntoIterator<Item = (&'x str, &'x str)>) -> (String, String) {
    let encoded: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| (rfc3986(k).to_ascii_lowercase(), rfc3986(v).into_owned()))
        .collect();
    join_sorted(encoded)
}

fn join_sorted(mut encoded: Vec<(String, String)>) -> (String, String) {
    encoded.sort_by(|a, b| a.0.cmp(&b.0));
    let mut joined = String::new();
    let mut list = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            joined.push('&');
            list.push(';');
        }
        joined.push_str(k);
        joined.push('=');
        joined.push_str(v);
        list.push_str(k);
    }
    (joined, list)
}

/// `HttpString = lower(method) \n path \n HttpParameters \n HttpHeaders \n`; `path` decoded.
pub fn http_string(method: &str, path: &str, http_parameters: &str, http_headers: &str) -> String {
    format!(
        "{}\n{path}\n{http_parameters}\n{http_headers}\n",
        method.to_ascii_lowercase()
    )
}

/// `StringToSign = "sha1" \n q-sign-time \n hex(SHA1(HttpString)) \n`.
pub fn string_to_sign(sign_time: &str, http_string: &str) -> String {
    format!(
        "{ALGORITHM}\n{sign_time}\n{}\n",
        hex::encode(sha1(http_string.as_bytes()))
    )
}

/// `SignKey = hex(HMAC-SHA1(SecretKey, q-key-time))`, lower-case hex. It is secret-equivalent for
/// the key-time window.
pub fn sign_key(secret: &crate::Secret, key_time: &str) -> String {
    hex::encode(hmac_sha1(secret.expose().as_bytes(), key_time.as_bytes()))
}

/// `HMAC-SHA1(SignKey, StringToSign)`, the SignKey being used as its hex text.
pub fn signature(sign_key: &str, string_to_sign: &str) -> [u8; 20] {
    hmac_sha1(sign_key.as_bytes(), string_to_sign.as_bytes())
}

/// What a client signs.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// Request method.
    pub method: &'a str,
    /// Decoded path, starting with `/`.
    pub path: &'a str,
    /// The query parameters to sign, decoded.
    pub params: &'a [(String, String)],
    /// The headers to sign, as sent.
    pub headers: &'a [(String, String)],
    /// `q-sign-time`.
    pub sign_time: &'a KeyTime,
    /// `q-key-time` (SDKs use the same window as `sign_time`).
    pub key_time: &'a KeyTime,
}

/// A computed COS signature with its intermediate strings.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// Hex SignKey (secret-equivalent; left out of `Debug`).
    pub sign_key: String,
    /// `HttpParameters`.
    pub http_parameters: String,
    /// `UrlParamList` (`q-url-param-list`).
    pub url_param_list: String,
    /// `HttpHeaders`.
    pub http_headers: String,
    /// `HeaderList` (`q-header-list`).
    pub header_list: String,
    /// `HttpString`.
    pub http_string: String,
    /// `StringToSign`.
    pub string_to_sign: String,
    /// `q-signature`, lower-case hex.
    pub signature: String,
    sign_time: String,
    key_time: String,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("http_string", &self.http_string)
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl Signed {
    /// The `q-*` fields in SDK order, decoded: the `Authorization` header joins them with `&`, a
    /// presigned URL appends them (encoded) to its query.
    pub fn fields(&self, access_key_id: &str) -> [(&'static str, String); 7] {
        [
            ("q-sign-algorithm", ALGORITHM.to_owned()),
            ("q-ak", access_key_id.to_owned()),
            ("q-sign-time", self.sign_time.clone()),
            ("q-key-time", self.key_time.clone()),
            ("q-header-list", self.header_list.clone()),
            ("q-url-param-list", self.url_param_list.clone()),
            ("q-signature", self.signature.clone()),
        ]
    }

    /// The `Authorization` header value.
    pub fn authorization(&self, access_key_id: &str) -> String {
        self.fields(access_key_id)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Signs `req` with `secret` (for hashscan's own clients and tests).
pub fn sign(secret: &crate::Secret, req: &SignRequest<'_>) -> Signed {
    let (http_parameters, url_param_list) =
        format_pairs(req.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (http_headers, header_list) =
        format_pairs(req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let http_string = http_string(req.method, req.path, &http_parameters, &http_headers);
    let string_to_sign = string_to_sign(req.sign_time.as_str(), &http_string);
    let sign_key = sign_key(secret, req.key_time.as_str());
    let signature = hex::encode(signature(&sign_key, &string_to_sign));
    Signed {
        sign_key,
        http_parameters,
        url_param_list,
        http_headers,
        header_list,
        http_string,
        string_to_sign,
        signature,
        sign_time: req.sign_time.as_str().to_owned(),
        key_time: req.key_time.as_str().to_owned(),
    }
}

/// `host` without a trailing `:port` (`[v6]:port` too), or `None` when it has none.
fn strip_port(host: &str) -> Option<&str> {
    let (name, port) = host.rsplit_once(':')?;
    let numeric = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let bracketed = name.starts_with('[') && name.ends_with(']');
    (numeric && (bracketed || !name.contains(':'))).then_some(name)
}

/// Verifies a COS-signed request: credential from the `Authorization` header or the `q-*` query
/// parameters, secret from `keys`, signature over the listed headers and parameters (a signed
/// `host` with and without its port), then the `q-sign-time`/`q-key-time` windows against `now`
/// (Unix seconds).
pub fn verify(
    req: &RequestParts<'_>,
    keys: &dyn KeyLookup,
    now: i64,
    opts: &Options,
) -> Result<Verified, AuthError> {
    let auth = extract(req)?;
    let secret = keys
        .secret(&auth.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;

    let query = req.query_pairs(Plus::Space);
    let mut params = Vec::new();
    for name in &auth.url_param_list {
        let before = params.len();
        for (k, v) in &query {
            let key = rfc3986(k).to_ascii_lowercase();
            if key == *name {
                params.push((key, rfc3986(v).into_owned()));
            }
        }
        if params.len() == before {
            return Err(AuthError::MissingSignedParam(name.clone()));
        }
    }
    let (http_parameters, _) = join_sorted(params);

    let mut headers = Vec::new();
    let mut signed_headers = Vec::with_capacity(auth.header_list.len());
    let mut host_alternative = None;
    for name in &auth.header_list {
        let header = decode_component(name, Plus::Literal).to_ascii_lowercase();
        signed_headers.push(header.clone());
        let value = req
            .header_joined(&header)
            .ok_or_else(|| AuthError::MissingSignedHeader(name.clone()))?;
        let key = rfc3986(&header).to_ascii_lowercase();
        if header == "host" {
            host_alternative = strip_port(&value).map(|h| rfc3986(h).into_owned());
        }
        headers.push((key, rfc3986(&value).into_owned()));
    }

    let sign_key = sign_key(&secret, auth.key_time.as_str());
    let matches = |headers: Vec<(String, String)>| {
        let (http_headers, _) = join_sorted(headers);
        let http_string = http_string(req.method, req.path, &http_parameters, &http_headers);
        let sts = string_to_sign(auth.sign_time.as_str(), &http_string);
        ct_eq(&signature(&sign_key, &sts), &auth.signature)
    };
    let mut ok = matches(headers.clone());
    if !ok && let Some(bare) = host_alternative {
        let swapped = headers
            .into_iter()
            .map(|(k, v)| {
                if k == "host" {
                    (k, bare.clone())
                } else {
                    (k, v)
                }
            })
            .collect();
        ok = matches(swapped);
    }
    if !ok {
        return Err(AuthError::SignatureMismatch);
    }

    auth.sign_time.check(now, opts.max_start_skew)?;
    auth.key_time.check(now, opts.max_start_skew)?;

    Ok(Verified {
        scheme: Scheme::Cos,
        access_key_id: auth.access_key_id,
        nonce: None,
        signed_at: auth.sign_time.start,
        expires_at: auth.sign_time.end.min(auth.key_time.end),
        security_token: security_token(req, auth.source),
        region: None,
        service: None,
        signed_params: auth
            .url_param_list
            .iter()
            .map(|p| decode_component(p, Plus::Literal).to_ascii_lowercase())
            .collect(),
        signed_headers,
    })
}

/// `x-cos-security-token` or `x-ci-security-token` (PY sends the latter to CI hosts, cos-ci.md
/// §5), from the headers or, for a presigned URL, the query.
fn security_token(req: &RequestParts<'_>, source: CredentialSource) -> Option<String> {
    const NAMES: [&str; 2] = ["x-cos-security-token", "x-ci-security-token"];
    let from_header = NAMES.iter().find_map(|n| req.header_joined(n));
    if from_header.is_some() || source == CredentialSource::Header {
        return from_header;
    }
    req.query_pairs(Plus::Space)
        .into_iter()
        .find(|(k, _)| NAMES.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| Cow::into_owned(v))
}

/// The signature of a POST Object form (a browser upload):
/// `HMAC-SHA1(SignKey, hex(SHA1(policy)))` with `SignKey = hex(HMAC-SHA1(SecretKey,
/// q-key-time))`, where `policy` is the policy document's JSON text (the `policy` field,
/// base64-decoded).
pub fn post_policy_signature(secret: &crate::Secret, key_time: &str, policy: &[u8]) -> [u8; 20] {
    let string_to_sign = hex::encode(sha1(policy));
    signature(&sign_key(secret, key_time), &string_to_sign)
}

/// Checks the signature fields of a POST Object form at `now` (Unix seconds): the access key
/// is known, `q-sign-algorithm` is `sha1`, `q-key-time` is a window that holds `now`, and
/// `q-signature` is the policy's under the key's secret (compared in constant time). The
/// policy's own conditions and expiry are the caller's to check.
pub fn verify_post_policy(
    keys: &dyn KeyLookup,
    fields: &PostSignature<'_>,
    policy: &[u8],
    now: i64,
    opts: &Options,
) -> Result<String, AuthError> {
    if !fields.algorithm.eq_ignore_ascii_case(ALGORITHM) {
        return Err(AuthError::Malformed("q-sign-algorithm must be sha1"));
    }
    let secret = keys
        .secret(fields.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;
    let key_time = KeyTime::parse(fields.key_time)?;
    let given: [u8; 20] = hex_array(fields.signature.trim())
        .ok_or(AuthError::Malformed("q-signature is not 40 hex digits"))?;
    let expected = post_policy_signature(&secret, key_time.as_str(), policy);
    if !ct_eq(&expected, &given) {
        return Err(AuthError::SignatureMismatch);
    }
    key_time.check(now, opts.max_start_skew)?;
    Ok(fields.access_key_id.to_string())
}

/// The signature fields of a POST Object form.
#[derive(Debug, Clone, Copy)]
pub struct PostSignature<'a> {
    /// `q-sign-algorithm`.
    pub algorithm: &'a str,
    /// `q-ak`.
    pub access_key_id: &'a str,
    /// `q-key-time`.
    pub key_time: &'a str,
    /// `q-signature`.
    pub signature: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_forms() {
        assert_eq!(strip_port("a.example:8080"), Some("a.example"));
        assert_eq!(strip_port("127.0.0.1:80"), Some("127.0.0.1"));
        assert_eq!(strip_port("[::1]:8080"), Some("[::1]"));
        assert_eq!(strip_port("a.example"), None);
        assert_eq!(strip_port("[::1]"), None);
        assert_eq!(strip_port("::1"), None);
        assert_eq!(strip_port("a.example:"), None);
        assert_eq!(strip_port("a.example:x"), None);
    }

    #[test]
    fn key_time_parse() {
        assert!(KeyTime::parse("1;2").is_ok());
        assert!(KeyTime::parse("2;1").is_err());
        assert!(KeyTime::parse("1;").is_err());
        assert!(KeyTime::parse(";1").is_err());
        assert!(KeyTime::parse("1;2;3").is_err());
        assert!(KeyTime::parse("-1;2").is_err());
        assert!(KeyTime::parse("99999999999999999999;1").is_err());
        assert!(KeyTime::parse("9999999999999999999;9999999999999999999").is_err());
    }

    #[test]
    fn format_pairs_sorts_by_encoded_lowercase_key() {
        let (joined, list) = format_pairs([("B", "x y"), ("a/b", "1"), ("A", "/")]);
        assert_eq!(joined, "a=%2F&a%2fb=1&b=x%20y");
        assert_eq!(list, "a;a%2fb;b");
    }
}
