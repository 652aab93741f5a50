//! Where a `SignURL` points: at an object of this server, or somewhere to download from.
//!
//! A URL is this server's own when its `host:port` is the `Host` the nta request was sent to,
//! or when its host is a virtual-hosted COS name `<bucket>.cos.<region>.<domain>` of a
//! configured domain (recognised by [`crate::route::resolve`], the addressing every dialect
//! shares), on any port: the COS SDKs in proxy mode presign `http://<bucket>.cos.<region>.
//! myqcloud.com/<key>` (port 80) while they talk to this server, and a configured domain is
//! this server's by configuration. For the request's own host, ports are compared after
//! mapping 80 and 443 to "the default port", because a `Host` header omits the port the
//! client used and a reverse proxy may sit in front of the server. Such a URL
//! is resolved as a GET of the COS dialect would be (see [`crate::access::presigned_get`]): no
//! HTTP round trip to ourselves, and the COS presignature (or the bucket's public-read flag)
//! decides access exactly as it would for that GET.
//!
//! Any other `http`/`https` URL is downloaded by the worker with the SSRF-safe fetcher, which
//! refuses private and loopback addresses unless configured otherwise. Other schemes, URLs
//! with user info and URLs without a host are refused here, before anything is submitted.

use axum::http::Uri;
use reqwest::Url;

use super::error::VolcError;
use crate::route::{HostKind, Target, resolve};

/// What a `SignURL` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUrl {
    /// An object of this server, to be read as a GET of `host` + `path?query` would.
    Own {
        /// The URL's authority, used as the `Host` of that GET (a COS presignature signs it).
        host: String,
        /// The path as written in the URL, still percent-encoded.
        path: String,
        /// The query as written in the URL, without `?`.
        query: String,
    },
    /// Anything else: fetched by URL.
    Remote(String),
}

/// Classifies `url`; `request_host` is the `Host` (or absolute-form authority) of the nta
/// request, `domains` the configured COS domains.
pub fn classify(
    url: &str,
    request_host: Option<&str>,
    domains: &[String],
) -> Result<SignUrl, VolcError> {
    let parsed =
        Url::parse(url).map_err(|_| VolcError::invalid("The parameter SignURL is not a URL."))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(VolcError::invalid(
            "The parameter SignURL must be an http or https URL.",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(VolcError::invalid(
            "The parameter SignURL must not contain user information.",
        ));
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(VolcError::invalid("The parameter SignURL has no host."));
    };
    let url_port = normal_port(parsed.port_or_known_default());
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let own = is_cos_bucket_host(bare_host, domains)
        || request_host.is_some_and(|req| {
            let (req_host, req_port) = split_host(req);
            url_port == req_port && bare_host.eq_ignore_ascii_case(req_host)
        });
    if !own {
        return Ok(SignUrl::Remote(url.to_string()));
    }
    // The request target as a client would send it: the URL's path and query byte for byte
    // (the `url` crate would normalise them).
    // Both parsers must agree on the host, so that what was judged own is what is read.
    let unservable =
        || VolcError::invalid("The parameter SignURL is not a URL this server can serve.");
    let uri: Uri = url.parse().map_err(|_| unservable())?;
    let authority = uri.authority().ok_or_else(unservable)?;
    let uri_host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let url_host = host.trim_start_matches('[').trim_end_matches(']');
    if !uri_host.eq_ignore_ascii_case(url_host) || authority.as_str().contains('@') {
        return Err(unservable());
    }
    Ok(SignUrl::Own {
        host: authority.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
    })
}

/// Whether `host` is `<bucket>.cos.<region>.<domain>` of a configured domain.
fn is_cos_bucket_host(host: &str, domains: &[String]) -> bool {
    matches!(
        resolve(Some(host), "/", domains),
        Ok(Target::Bucket {
            kind: HostKind::Cos,
            path_style: false,
            ..
        })
    )
}

/// 80 and 443 (and no port) are "the default port", `None`.
fn normal_port(port: Option<u16>) -> Option<u16> {
    port.filter(|p| *p != 80 && *p != 443)
}

/// `host[:port]` of a `Host` header → (host, normalised port). IPv6 `[::1]:80` too.
fn split_host(value: &str) -> (&str, Option<u16>) {
    let value = value.trim();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (value, None),
        }
    } else {
        match value.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (value, None),
        }
    };
    let port = port.and_then(|p| p.parse::<u16>().ok());
    (host.trim_end_matches('.'), normal_port(port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volc::error::Code;

    fn domains() -> Vec<String> {
        vec!["myqcloud.com".to_string()]
    }

    fn own(url: &str, host: &str) -> Option<(String, String, String)> {
        match classify(url, Some(host), &domains()).unwrap() {
            SignUrl::Own { host, path, query } => Some((host, path, query)),
            SignUrl::Remote(_) => None,
        }
    }

    #[test]
    fn same_host_and_port_is_own() {
        let got = own(
            "http://127.0.0.1:8080/b-125/dir/a%2Bb.txt?q-sign-algorithm=sha1&q-signature=ab",
            "127.0.0.1:8080",
        )
        .unwrap();
        assert_eq!(
            got,
            (
                "127.0.0.1:8080".to_string(),
                "/b-125/dir/a%2Bb.txt".to_string(),
                "q-sign-algorithm=sha1&q-signature=ab".to_string()
            )
        );
        assert!(own("http://LOCALHOST:8080/b/k", "localhost:8080").is_some());
        assert!(own("http://[::1]:8080/b/k", "[::1]:8080").is_some());
        // Default ports: a Host without a port matches a URL without one, either scheme.
        assert!(own("https://hashscan.example/b/k", "hashscan.example").is_some());
        assert!(own("http://hashscan.example:80/b/k", "hashscan.example").is_some());
        assert!(own("http://hashscan.example/b/k", "hashscan.example:443").is_some());
    }

    #[test]
    fn virtual_hosted_cos_names_of_configured_domains_are_own_on_any_port() {
        let got = own(
            "http://sdktest-1250000000.cos.ap-chongqing.myqcloud.com:8080/k%20y?q-ak=x",
            "127.0.0.1:8080",
        )
        .unwrap();
        assert_eq!(
            got.0,
            "sdktest-1250000000.cos.ap-chongqing.myqcloud.com:8080"
        );
        assert_eq!(got.1, "/k%20y");
        assert_eq!(got.2, "q-ak=x");
        // On any port, as the SDKs presign in proxy mode (port 80), https too.
        let got = own(
            "http://sdktest-1250000000.cos.ap-chongqing.myqcloud.com/k?q-sign-algorithm=sha1",
            "127.0.0.1:8080",
        )
        .unwrap();
        assert_eq!(got.0, "sdktest-1250000000.cos.ap-chongqing.myqcloud.com");
        assert_eq!(got.2, "q-sign-algorithm=sha1");
        assert!(
            own(
                "https://sdktest-1250000000.cos.ap-chongqing.myqcloud.com:9443/k",
                "127.0.0.1:8080"
            )
            .is_some()
        );
        // Not a configured domain, or not a bucket host.
        assert!(own("http://b-1.cos.r.example.org:8080/k", "127.0.0.1:8080").is_none());
        assert!(own("http://cos.ap-x.myqcloud.com:8080/k", "127.0.0.1:8080").is_none());
        assert!(own("http://b-1.ci.ap-x.myqcloud.com:8080/k", "127.0.0.1:8080").is_none());
    }

    #[test]
    fn other_urls_are_remote() {
        for (url, host) in [
            ("http://127.0.0.1:9/b/k", "127.0.0.1:8080"),
            ("http://10.0.0.1:8080/b/k", "127.0.0.1:8080"),
            (
                "https://bucket.tos-cn-beijing.volces.com/a.elf?X-Tos-Signature=1",
                "127.0.0.1:8080",
            ),
            ("http://example.com/x", "example.com:8080"),
        ] {
            assert_eq!(
                classify(url, Some(host), &domains()).unwrap(),
                SignUrl::Remote(url.to_string()),
                "{url}"
            );
        }
        // No Host header: nothing is own.
        assert!(matches!(
            classify("http://127.0.0.1:8080/b/k", None, &domains()).unwrap(),
            SignUrl::Remote(_)
        ));
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "gopher://x/",
            "data:text/plain,hi",
            "not a url",
            "/relative/path",
            "http://user:pw@example.com/x",
            "http://user@example.com/x",
            "http://",
        ] {
            let e = classify(url, Some("127.0.0.1:8080"), &domains()).unwrap_err();
            assert_eq!(e.code, Code::InvalidParameter, "{url}");
        }
    }

    #[test]
    fn parser_disagreements_are_refused() {
        // The `url` crate reads these hosts as 127.0.0.1; a raw request line would not.
        for url in [
            "http://0x7f.1:8080/b/k",
            "http://127.1:8080/b/k",
            "http://127.0.0.1:8080\\b/k",
        ] {
            let e = classify(url, Some("127.0.0.1:8080"), &domains()).unwrap_err();
            assert_eq!(e.code, Code::InvalidParameter, "{url}");
        }
    }

    #[test]
    fn host_headers() {
        assert_eq!(split_host("a.b:8080"), ("a.b", Some(8080)));
        assert_eq!(split_host("a.b:80"), ("a.b", None));
        assert_eq!(split_host("a.b"), ("a.b", None));
        assert_eq!(split_host("[::1]:9000"), ("::1", Some(9000)));
        assert_eq!(split_host("[::1]"), ("::1", None));
        assert_eq!(split_host("a.b:notaport"), ("a.b", None));
    }
}
