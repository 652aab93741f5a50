//! Parsers of COS request details: Range, Content-MD5, x-cos-copy-source. Pure functions
//! over network input, with negative tests here and a fuzz target (`fuzz/fuzz_targets/cos_parse.rs`).

use base64::Engine as _;

use crate::core::objects::Conditions;
use crate::route;

/// A `Content-MD5` header: base64 of 16 bytes.
pub fn parse_content_md5(value: &str) -> Option<[u8; 16]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    bytes.try_into().ok()
}

/// `<bucket>.cos.<region>.<domain>/<key>` (what the SDKs send), or `/<bucket>/<key>`;
/// the key percent-encoded, a `?versionId=` suffix ignored.
pub fn parse_copy_source(
    source: &str,
    domains: &[String],
) -> Option<(String, Option<String>, String)> {
    let source = source.split_once('?').map_or(source, |(s, _)| s);
    let source = source
        .strip_prefix("http://")
        .or_else(|| source.strip_prefix("https://"))
        .unwrap_or(source);
    let (host, raw_key) = source.split_once('/')?;
    let target = if host.is_empty() {
        route::resolve(None, &format!("/{raw_key}"), domains).ok()?
    } else {
        route::resolve(Some(host), &format!("/{raw_key}"), domains).ok()?
    };
    match target {
        route::Target::Bucket {
            bucket,
            region,
            key,
            path_style: false,
            ..
        } if !key.is_empty() => Some((bucket, region, key)),
        route::Target::Bucket {
            bucket,
            key,
            path_style: true,
            ..
        } if host.is_empty() && !key.is_empty() => Some((bucket, None, key)),
        _ => None,
    }
}

/// What a Range header asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// No usable range: send everything.
    Full,
    /// First and last byte, inclusive.
    Partial(u64, u64),
    /// A range that starts past the end (416).
    Unsatisfiable,
}

/// A single `bytes=` range (RFC 9110 §14.1). Syntax it does not understand, and lists of
/// several ranges, are ignored: the whole object is sent, as the RFC allows.
pub fn parse_range(value: &str, size: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        (true, false) => match parse(last) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(n) if size > 0 => RangeSpec::Partial(size.saturating_sub(n), size - 1),
            Some(_) => RangeSpec::Unsatisfiable,
            None => RangeSpec::Full,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return RangeSpec::Full;
            };
            let end = if last.is_empty() {
                Some(u64::MAX)
            } else {
                parse(last)
            };
            match end {
                None => RangeSpec::Full,
                Some(end) if end < start => RangeSpec::Full,
                Some(_) if start >= size => RangeSpec::Unsatisfiable,
                Some(end) => RangeSpec::Partial(start, end.min(size - 1)),
            }
        }
        (true, true) => RangeSpec::Full,
    }
}

/// The conditions of a request: the `If-*` headers (`prefix` empty) or those of a copy's
/// source (`prefix` `x-cos-copy-source-`), read through `header` (lower-case names). A date
/// that is not an HTTP date is left out.
/// Parses `x-cos-copy-source-range: bytes=<first>-<last>` (both given, first ≤ last) into
/// (first, last), inclusive; `None` when it is not that.
pub fn parse_copy_range(value: &str) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return None;
    }
    let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
    (first <= last).then_some((first, last))
}

pub fn parse_conditions<'a>(header: impl Fn(&str) -> Option<&'a str>, prefix: &str) -> Conditions {
    let get = |name: &str| header(&format!("{prefix}{name}"));
    let date = |name: &str| {
        get(name)
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs().min(i64::MAX as u64) as i64)
    };
    Conditions {
        if_match: get("if-match").map(Conditions::etags),
        if_none_match: get("if-none-match").map(Conditions::etags),
        if_modified_since: date("if-modified-since"),
        if_unmodified_since: date("if-unmodified-since"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_ranges() {
        assert_eq!(parse_copy_range("bytes=0-1048575"), Some((0, 1_048_575)));
        assert_eq!(parse_copy_range(" bytes=5-5 "), Some((5, 5)));
        for bad in [
            "",
            "bytes=",
            "bytes=5-4",
            "bytes=-5",
            "bytes=5-",
            "bytes=a-b",
            "bytes=1-2,3-4",
            "0-5",
            "bytes=+1-2",
            "bytes=99999999999999999999-1",
        ] {
            assert_eq!(parse_copy_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=10-19", 100), RangeSpec::Partial(10, 19));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Partial(90, 99));
        assert_eq!(parse_range("bytes=-5", 100), RangeSpec::Partial(95, 99));
        assert_eq!(parse_range("bytes=-500", 100), RangeSpec::Partial(0, 99));
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            RangeSpec::Partial(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=x-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=0-0", 0), RangeSpec::Unsatisfiable);
    }

    #[test]
    fn copy_sources() {
        let d = vec!["myqcloud.com".to_string()];
        assert_eq!(
            parse_copy_source(
                "b-125.cos.ap-beijing.myqcloud.com/dir/%E6%96%87+x?versionId=1",
                &d
            ),
            Some(("b-125".into(), Some("ap-beijing".into()), "dir/文+x".into()))
        );
        assert_eq!(
            parse_copy_source("/b-125/k", &d),
            Some(("b-125".into(), None, "k".into()))
        );
        assert_eq!(parse_copy_source("nonsense", &d), None);
        assert_eq!(parse_copy_source("b-125.cos.r.myqcloud.com/", &d), None);
    }

    #[test]
    fn content_md5() {
        assert_eq!(
            parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg=="),
            Some(hex_literal("d41d8cd98f00b204e9800998ecf8427e"))
        );
        assert_eq!(parse_content_md5("nope"), None);
        assert_eq!(parse_content_md5("AAAA"), None);
    }

    fn hex_literal(s: &str) -> [u8; 16] {
        hex::decode(s).unwrap().try_into().unwrap()
    }
}
