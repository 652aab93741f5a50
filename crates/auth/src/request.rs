use std::borrow::Cow;

use crate::AuthError;
use crate::encode::{Plus, decode_query_cow};

/// Read access to a request's headers, however the server stores them.
///
/// Implemented for slices, arrays and vectors of `(name, value)` pairs (what the test vectors and
/// simple callers have; pass a slice `s` as `&s`, since a bare slice is unsized); a server implements it on a thin wrapper over its own header map, which avoids
/// copying every header per request. With `http::HeaderMap`, for example:
///
/// ```ignore
/// struct Headers<'a>(&'a http::HeaderMap);
/// impl hashscan_auth::HeaderSource for Headers<'_> {
///     fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
///         for v in self.0.get_all(name) {
///             if let Ok(s) = std::str::from_utf8(v.as_bytes()) {
///                 f(s)
///             }
///         }
///     }
/// }
/// ```
///
/// An HTTP/2 server must include the `:authority` pseudo-header as `host`.
pub trait HeaderSource {
    /// Calls `f` with every value of the header `name`, in the order received. `name` is given in
    /// lower case and must be matched ASCII-case-insensitively.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str));
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for [(K, V)] {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for (k, v) in self {
            if k.as_ref().eq_ignore_ascii_case(name) {
                f(v.as_ref());
            }
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderSource for [(K, V); N] {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.as_slice().for_each_value(name, f);
    }
}

/// Lets a borrowed slice be passed as `&dyn HeaderSource` (`&slice`, since a bare slice is
/// unsized).
impl<T: HeaderSource + ?Sized> HeaderSource for &T {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        (**self).for_each_value(name, f);
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for Vec<(K, V)> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.as_slice().for_each_value(name, f);
    }
}

/// The query of a request, raw from the wire or already decoded.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// The raw query string as received (without the `?`). Each scheme decodes it with its own
    /// `+` rule (see [`crate::encode::Plus`]); this is what a server should pass.
    Raw(&'a str),
    /// Decoded `(name, value)` pairs in wire order, used as they are.
    Decoded(&'a [(String, String)]),
}

/// The request body, or its SHA-256 when the caller hashed it while reading it.
///
/// Only Alibaba V3 and Volcengine sign the body (through its SHA-256) and Alibaba V2 a form body's
/// parameters; COS ignores it.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The complete body.
    Bytes(&'a [u8]),
    /// The SHA-256 of the complete body.
    Sha256([u8; 32]),
}

/// A neutral view of an HTTP request: everything a signature can cover, borrowed.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// The request method as received (`GET`, `POST`, …).
    pub method: &'a str,
    /// The path, percent-decoded, starting with `/` (for an absolute-form request target, only
    /// its path). See [`crate::encode::decode_path`].
    pub path: &'a str,
    /// The query.
    pub query: Query<'a>,
    /// The headers.
    pub headers: &'a dyn HeaderSource,
    /// The body or its hash.
    pub body: Payload<'a>,
}

impl<'a> RequestParts<'a> {
    /// A request with an empty body.
    pub fn new(
        method: &'a str,
        path: &'a str,
        query: Query<'a>,
        headers: &'a dyn HeaderSource,
    ) -> Self {
        Self {
            method,
            path,
            query,
            headers,
            body: Payload::Bytes(b""),
        }
    }

    /// The same request with `body`.
    pub fn with_body(mut self, body: Payload<'a>) -> Self {
        self.body = body;
        self
    }

    /// Decoded query pairs in wire order, a raw query being decoded with `plus`.
    pub(crate) fn query_pairs(&self, plus: Plus) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        match self.query {
            Query::Raw(raw) => decode_query_cow(raw.strip_prefix('?').unwrap_or(raw), plus),
            Query::Decoded(pairs) => pairs
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                .collect(),
        }
    }

    /// Every value of header `name` (lower case), in the order received.
    pub(crate) fn header_values(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.headers
            .for_each_value(name, &mut |v| out.push(v.to_owned()));
        out
    }

    /// The values of header `name` joined with `,` (the HTTP rule for repeated headers), or
    /// `None` when the header is absent.
    pub(crate) fn header_joined(&self, name: &str) -> Option<String> {
        let values = self.header_values(name);
        if values.is_empty() {
            None
        } else {
            Some(values.join(","))
        }
    }

    /// The single value of header `name`; `Err(Malformed(dup))` when it is repeated.
    pub(crate) fn header_single(
        &self,
        name: &str,
        dup: &'static str,
    ) -> Result<Option<String>, AuthError> {
        let mut values = self.header_values(name);
        match values.len() {
            0 => Ok(None),
            1 => Ok(values.pop()),
            _ => Err(AuthError::Malformed(dup)),
        }
    }

    /// SHA-256 of the body.
    pub(crate) fn body_sha256(&self) -> [u8; 32] {
        match self.body {
            Payload::Bytes(b) => crate::mac::sha256(b),
            Payload::Sha256(h) => h,
        }
    }
}
