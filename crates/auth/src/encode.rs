//! Percent-encoding and query decoding as the signature schemes need them.
//!
//! All four schemes re-encode decoded values with the same RFC 3986 rule before signing:
//! everything but `A–Z a–z 0–9 - _ . ~` becomes `%XX` with upper-case hex (space is `%20`, `/`
//! is `%2F`, `*` is `%2A`). They differ in how the *wire* query is decoded: the Alibaba and
//! Volcengine SDKs form-encode their queries (a space is sent as `+`), while a COS request keeps
//! a `+` literal (cos-ci.md §6: "decode with plain percent-decoding, never `+`→space").

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Bytes that RFC 3986 encoding leaves alone are the unreserved ones; this set is its complement.
pub const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// [`RFC3986`] with `/` also left alone, for canonical URIs.
pub const RFC3986_PATH: &AsciiSet = &RFC3986.remove(b'/');

/// How a `+` in a raw query string is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// `+` is a literal plus sign (the names in COS's `q-header-list` and `q-url-param-list`).
    Literal,
    /// `+` is a space, as in `application/x-www-form-urlencoded` (Alibaba, detection-apis.md
    /// §2.1; Volcengine, whose Python SDK form-encodes the query with `urlencode`).
    Space,
}

/// RFC 3986 percent-encoding of `s` (COS `UrlEncode`, Alibaba `percentEncode`, Volcengine
/// `quote(x, safe='-_.~')`).
pub fn rfc3986(s: &str) -> Cow<'_, str> {
    utf8_percent_encode(s, RFC3986).into()
}

/// RFC 3986 percent-encoding of a decoded path, keeping `/` (canonical URI of Alibaba V3 and
/// Volcengine).
pub fn rfc3986_path(s: &str) -> Cow<'_, str> {
    utf8_percent_encode(s, RFC3986_PATH).into()
}

/// Percent-decodes one query component. Malformed escapes (`%zz`, a trailing `%`) are kept
/// literally and bytes that are not UTF-8 are replaced by U+FFFD: such a request then simply fails
/// its signature check instead of being refused by the decoder.
pub fn decode_component(s: &str, plus: Plus) -> Cow<'_, str> {
    if plus == Plus::Space && s.contains('+') {
        let spaced = s.replace('+', " ");
        Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(s).decode_utf8_lossy()
    }
}

/// Percent-decodes a request path (never turns `+` into a space).
pub fn decode_path(raw: &str) -> Cow<'_, str> {
    percent_decode_str(raw).decode_utf8_lossy()
}

/// Splits a raw query string (without the leading `?`) into decoded `(name, value)` pairs in wire
/// order. A parameter without `=` gets an empty value (`?acl` is `acl=`); blank values are kept
/// (Alibaba's legacy SDK signs `SignatureType=`); empty segments (`a=1&&b=2`) are skipped.
pub fn decode_query(raw: &str, plus: Plus) -> Vec<(String, String)> {
    decode_query_cow(raw, plus)
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn decode_query_cow(raw: &str, plus: Plus) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    raw.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
            (decode_component(k, plus), decode_component(v, plus))
        })
        .collect()
}

/// Joins `name=value` pairs with `&`, each side RFC 3986-encoded, in the order given.
pub(crate) fn join_encoded<'x>(pairs: impl IntoIterator<Item = (&'x str, &'x str)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, RFC3986));
        out.push('=');
        out.extend(utf8_percent_encode(v, RFC3986));
    }
    out
}

/// Whether `s` is a valid HTTP header name in lower case (RFC 9110 `token`, no upper-case
/// letters).
pub(crate) fn is_lower_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_encodes_everything_but_unreserved() {
        assert_eq!(rfc3986("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(rfc3986("a b/c*d+e=f&"), "a%20b%2Fc%2Ad%2Be%3Df%26");
        assert_eq!(rfc3986("腾"), "%E8%85%BE");
        assert_eq!(rfc3986_path("/a b/c"), "/a%20b/c");
    }

    #[test]
    fn plus_rules_differ() {
        assert_eq!(decode_component("a+b%2B", Plus::Literal), "a+b+");
        assert_eq!(decode_component("a+b%2B", Plus::Space), "a b+");
        assert_eq!(decode_component("%zz%", Plus::Literal), "%zz%");
    }

    #[test]
    fn query_splitting() {
        assert_eq!(
            decode_query("acl&x=&&y=1%3D2=3", Plus::Literal),
            vec![
                ("acl".into(), "".into()),
                ("x".into(), "".into()),
                ("y".into(), "1=2=3".into())
            ]
        );
    }
}
