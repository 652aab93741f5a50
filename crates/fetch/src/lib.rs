//! The one place the server makes outbound HTTP requests to user-given URLs, without
//! letting it be used for server-side request forgery (SSRF): downloads (Alibaba's
//! `DownloadUrl`, Volcengine's `SignURL`, [`Fetcher::fetch_to_file`]) and job callbacks
//! ([`Fetcher::post`]) go through one [`Fetcher`], that is one HTTP client configuration
//! and one address [`Policy`].
//!
//! - Only `http` and `https`, and no user info in the URL.
//! - Every address connected to is checked against the address policy ([`is_refused`]):
//!   IP literals before connecting, DNS names inside the resolver that reqwest connects
//!   through, so a name cannot pass a check and then resolve elsewhere (DNS rebinding).
//! - Redirects are never followed by reqwest. Downloads follow them here, checking each
//!   `Location` again; a POST does not follow them at all (its answer is the 3xx).
//! - Proxies from the environment are ignored, so `HTTP(S)_PROXY` cannot route around
//!   the policy.
//! - A download's body is limited in size (Content-Length first, then counted while
//!   streaming) and the whole fetch, redirects and body included, in time. A POST has its
//!   own total time limit, and at most [`MAX_POST_ANSWER`] bytes of its answer are read.
//! - No `Accept-Encoding` but `identity`, and nothing is decoded: the file holds the
//!   bytes as served.

mod addr;
mod resolve;

use std::error::Error;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use tokio::io::AsyncWriteExt;
use url::{Host, Url};

pub use addr::is_refused;

use resolve::GuardedResolver;

/// Environment variable that [`Policy::with_env_override`] reads: `1` or `true` sets
/// `allow_private`.
pub const ALLOW_PRIVATE_ENV: &str = "HASHSCAN_FETCH_ALLOW_PRIVATE";

/// Limits and the one knob of the address policy, for every outbound connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Largest body a download accepts, in bytes. Default 100 MiB.
    pub max_bytes: u64,
    /// Time for a whole download: connections, redirects and body. Default 60 s. A
    /// [`Post`] carries its own.
    pub timeout: Duration,
    /// Time for each DNS lookup and TCP/TLS connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Redirects followed at most. Default 5.
    pub max_redirects: usize,
    /// Let private, loopback, link-local, CGNAT, documentation and reserved addresses
    /// through (unspecified, multicast and broadcast stay refused). Default false.
    pub allow_private: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_bytes: 100 << 20,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
            allow_private: false,
        }
    }
}

impl Policy {
    /// This policy with `allow_private` set when [`ALLOW_PRIVATE_ENV`] is `1` or `true`
    /// (any case); unchanged otherwise. A separate call so that nothing else reads the
    /// environment.
    #[must_use]
    pub fn with_env_override(self) -> Policy {
        let value = std::env::var(ALLOW_PRIVATE_ENV).ok();
        self.with_allow_private_flag(value.as_deref())
    }

    fn with_allow_private_flag(mut self, value: Option<&str>) -> Policy {
        if value.is_some_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true")) {
            self.allow_private = true;
        }
        self
    }

    /// Whether this policy refuses to connect to `addr`.
    pub fn refuses(&self, addr: IpAddr) -> bool {
        addr::refused(addr, self.allow_private)
    }
}

/// What a successful fetch wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes written to the file.
    pub size: u64,
    /// The URL the body came from, after redirects.
    pub final_url: String,
    /// The `Content-Type` of the answer, if any and if text.
    pub content_type: Option<String>,
}

/// Most bytes of a POST's answer that [`Fetcher::post`] reads; the rest is not read (the
/// connection is dropped rather than reused).
pub const MAX_POST_ANSWER: usize = 64 << 10;

/// A POST of a small body to a user-given URL (a job callback).
#[derive(Debug, Clone)]
pub struct Post {
    /// `Content-Type` of the body.
    pub content_type: String,
    /// Further headers, such as `("x-hashscan-delivery-id", id)`. A `user-agent` here
    /// replaces the client's.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Time for the whole request: connection, sending, the answer's head and the part of
    /// its body that is read.
    pub timeout: Duration,
}

/// The answer to a [`Post`], whatever its status (redirects are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// At most [`MAX_POST_ANSWER`] bytes of the body.
    pub body: Vec<u8>,
    /// Whether the body went on past what was read.
    pub truncated: bool,
}

/// Why a fetch failed. Messages never contain the URL's path or query (signed URLs
/// carry credentials there).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Unparsable, not http/https, with user info, or without a host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The host is, or resolves only to, an address that the policy refuses.
    #[error("refused: {host} is {addr}, an address that may not be fetched from")]
    Forbidden { host: String, addr: IpAddr },
    /// DNS failure, or no address.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// Content-Length over the limit, or the body grew past it.
    #[error("body larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The final answer's status was not 2xx (or a redirect without `Location`).
    #[error("answered with status {0}")]
    Status(u16),
    /// More redirects than `Policy::max_redirects`.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// The whole fetch, a DNS lookup or a connection took too long.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made (refused, reset, TLS handshake failed, ...).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection broke, or the answer was malformed, after connecting.
    #[error("transfer failed: {0}")]
    Transfer(String),
    /// The HTTP client could not be built (from [`Fetcher::new`] only).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A header of a [`Post`] is not a valid HTTP header (the caller's fault, not the
    /// URL's).
    #[error("invalid request header: {0}")]
    InvalidHeader(String),
    /// Creating or writing the local file failed.
    #[error("writing the file: {0}")]
    Io(#[from] std::io::Error),
}

impl FetchError {
    /// True when the URL or its target is at fault, false for local failures
    /// ([`FetchError::Io`], [`FetchError::Client`], [`FetchError::InvalidHeader`]).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            FetchError::Io(_) | FetchError::Client(_) | FetchError::InvalidHeader(_)
        )
    }

    /// True when trying the same URL again can never succeed under this policy: the URL
    /// is malformed or its host is (or resolves only to) a refused address. A name that
    /// resolves only to refused addresses counts, although its records may change.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            FetchError::InvalidUrl(_) | FetchError::Forbidden { .. } | FetchError::InvalidHeader(_)
        )
    }

    fn from_reqwest(e: reqwest::Error) -> FetchError {
        let e = e.without_url();
        // The resolver's verdicts travel inside reqwest's error chain.
        let mut source = e.source();
        while let Some(s) = source {
            if let Some(inner) = s.downcast_ref::<FetchError>() {
                match inner {
                    FetchError::Forbidden { host, addr } => {
                        return FetchError::Forbidden {
                            host: host.clone(),
                            addr: *addr,
                        };
                    }
                    FetchError::Resolve(m) => return FetchError::Resolve(m.clone()),
                    FetchError::Timeout => return FetchError::Timeout,
                    _ => {}
                }
            }
            source = s.source();
        }
        if e.is_timeout() {
            FetchError::Timeout
        } else if e.is_connect() {
            FetchError::Connect(chain(&e))
        } else {
            FetchError::Transfer(chain(&e))
        }
    }
}

/// `e` and its sources, joined by `: `.
fn chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Makes outbound requests to user-given URLs under a [`Policy`]: downloads and POSTs.
/// Cheap to clone: clones share one HTTP client and its connection pool.
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    policy: Policy,
}

impl Fetcher {
    /// A fetcher with one HTTP client set up for `policy`: the guarding resolver, no
    /// automatic redirects, no proxies (neither configured nor from the environment), the
    /// policy's connect and total timeouts.
    pub fn new(policy: Policy) -> Result<Fetcher, FetchError> {
        Fetcher::with_ca_file(policy, None)
    }

    /// [`Fetcher::new`], trusting for https the certificates of a PEM file (one or more
    /// `CERTIFICATE` blocks: a private CA, a self-signed server) besides the built-in roots
    /// (Mozilla's, and the system's store when it has one). `None` is [`Fetcher::new`]. An
    /// unreadable file, or one without a certificate, is [`FetchError::Client`].
    pub fn with_ca_file(policy: Policy, ca_file: Option<&Path>) -> Result<Fetcher, FetchError> {
        let mut builder = reqwest::Client::builder();
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                FetchError::Client(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                FetchError::Client(format!("CA file {}: {}", path.display(), chain(&e)))
            })?;
            if certs.is_empty() {
                return Err(FetchError::Client(format!(
                    "CA file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
                timeout: policy.connect_timeout,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("hashscan-fetch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(chain(&e)))?;
        Ok(Fetcher {
            inner: Arc::new(Inner { client, policy }),
        })
    }

    /// The policy this fetcher applies.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Checks `url` before accepting it for a later fetch or POST: its scheme and form,
    /// and that its host (an IP literal, or a name resolved now) has an address the policy
    /// allows. The request checks again at connect time (the name may resolve differently
    /// then). Every dialect that takes a URL checks it here, at submission.
    pub async fn precheck(&self, url: &str) -> Result<(), FetchError> {
        let policy = &self.inner.policy;
        let parsed = parse_url(url, policy.allow_private)?;
        if let Some(Host::Domain(name)) = parsed.host() {
            let resolver = GuardedResolver {
                allow_private: policy.allow_private,
                timeout: policy.connect_timeout,
            };
            resolver.lookup(name).await?;
        }
        Ok(())
    }

    /// Streams the body of `url` into `dest` (a path the caller owns; created or
    /// truncated), following redirects under the policy, hashing nothing.
    ///
    /// `dest` is created only once a 2xx answer within the size limit arrives; if the
    /// fetch fails after that (body past `max_bytes`, timeout, broken connection), the
    /// partial file is removed.
    pub async fn fetch_to_file(&self, url: &str, dest: &Path) -> Result<Fetched, FetchError> {
        let mut created = false;
        let result = tokio::time::timeout(
            self.inner.policy.timeout,
            self.fetch_inner(url, dest, &mut created),
        )
        .await
        .unwrap_or(Err(FetchError::Timeout));
        if result.is_err()
            && created
            && let Err(e) = tokio::fs::remove_file(dest).await
        {
            tracing::warn!(path = %dest.display(), error = %e, "fetch: cannot remove a partial file");
        }
        result
    }

    /// POSTs `request` to `url` under the policy, without following redirects, and
    /// returns the answer whatever its status. The URL is checked as a download's is (an
    /// IP-literal host before connecting, a name in the resolver); a refused host is
    /// [`FetchError::Forbidden`] and nothing is sent. At most [`MAX_POST_ANSWER`] bytes of
    /// the answer are read, all within `request.timeout`.
    pub async fn post(&self, url: &str, request: Post) -> Result<Answer, FetchError> {
        let timeout = request.timeout;
        tokio::time::timeout(timeout, self.post_inner(url, request))
            .await
            .unwrap_or(Err(FetchError::Timeout))
    }

    async fn post_inner(&self, url: &str, request: Post) -> Result<Answer, FetchError> {
        let url = parse_url(url, self.inner.policy.allow_private)?;
        let mut builder = self
            .inner
            .client
            .post(url)
            .timeout(request.timeout)
            .header(CONTENT_TYPE, header_value(&request.content_type)?);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FetchError::InvalidHeader(format!("name {name:?}")))?;
            builder = builder.header(name, header_value(value)?);
        }
        let mut response = builder
            .body(request.body)
            .send()
            .await
            .map_err(FetchError::from_reqwest)?;
        let status = response.status();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
            let room = MAX_POST_ANSWER - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body,
            truncated,
        })
    }

    async fn fetch_inner(
        &self,
        url: &str,
        dest: &Path,
        created: &mut bool,
    ) -> Result<Fetched, FetchError> {
        let policy = &self.inner.policy;
        let mut current = parse_url(url, policy.allow_private)?;
        let mut redirects = 0;
        let response = loop {
            let response = self
                .inner
                .client
                .get(current.clone())
                .header(ACCEPT_ENCODING, "identity")
                .send()
                .await
                .map_err(FetchError::from_reqwest)?;
            let status = response.status();
            if !is_followed_redirect(status) {
                break response;
            }
            if redirects >= policy.max_redirects {
                return Err(FetchError::TooManyRedirects(policy.max_redirects));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .ok_or(FetchError::Status(status.as_u16()))?
                .to_str()
                .map_err(|_| FetchError::InvalidUrl("redirect Location is not ASCII".into()))?;
            current = next_hop(&current, location, policy.allow_private)?;
            redirects += 1;
            tracing::debug!(
                host = current.host_str(),
                redirects,
                "fetch: following a redirect"
            );
        };

        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let limit = policy.max_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let final_url = response.url().to_string();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);

        let mut file = tokio::fs::File::create(dest).await?;
        *created = true;
        let mut response = response;
        let mut size: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
            size = size.saturating_add(chunk.len() as u64);
            if size > limit {
                return Err(FetchError::TooLarge { limit });
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(Fetched {
            size,
            final_url,
            content_type,
        })
    }
}

fn header_value(value: &str) -> Result<HeaderValue, FetchError> {
    HeaderValue::from_str(value)
        .map_err(|_| FetchError::InvalidHeader("a value with control or non-ASCII bytes".into()))
}

/// The statuses whose `Location` is followed (always with GET).
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Parses a user-given URL and applies the per-hop checks.
pub(crate) fn parse_url(url: &str, allow_private: bool) -> Result<Url, FetchError> {
    let parsed = Url::parse(url.trim()).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
    check_url(&parsed, allow_private)?;
    Ok(parsed)
}

/// The URL a redirect from `current` to `location` leads to, checked like the first.
pub(crate) fn next_hop(
    current: &Url,
    location: &str,
    allow_private: bool,
) -> Result<Url, FetchError> {
    let next = current
        .join(location)
        .map_err(|e| FetchError::InvalidUrl(format!("redirect Location: {e}")))?;
    check_url(&next, allow_private)?;
    Ok(next)
}

/// The checks made on every URL before it is requested: scheme, user info, host, and the
/// address policy for IP-literal hosts (which reqwest connects to without resolving).
/// DNS names are checked by the resolver on each connection.
pub(crate) fn check_url(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(FetchError::InvalidUrl(format!(
            "scheme {scheme:?} is not allowed, only http and https"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::InvalidUrl(
            "user info (user:password@) is not allowed".into(),
        ));
    }
    let addr = match url.host() {
        None => return Err(FetchError::InvalidUrl("no host".into())),
        Some(Host::Domain("")) => return Err(FetchError::InvalidUrl("empty host".into())),
        // The URL parser turns every IPv4 spelling of http(s) hosts (decimal, octal, hex)
        // into `Host::Ipv4`; parsing again keeps this safe should that ever change.
        Some(Host::Domain(name)) => match name.parse::<IpAddr>() {
            Ok(addr) => addr,
            Err(_) => return Ok(()),
        },
        Some(Host::Ipv4(a)) => IpAddr::V4(a),
        Some(Host::Ipv6(a)) => IpAddr::V6(a),
    };
    if addr::refused(addr, allow_private) {
        let host = url.host_str().unwrap_or_default().to_owned();
        tracing::warn!(host, %addr, "fetch refused: URL names a refused address");
        return Err(FetchError::Forbidden { host, addr });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn forbidden(r: Result<Url, FetchError>) -> IpAddr {
        match r {
            Err(FetchError::Forbidden { addr, .. }) => addr,
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }

    fn invalid(r: Result<Url, FetchError>) {
        assert!(
            matches!(r, Err(FetchError::InvalidUrl(_))),
            "expected InvalidUrl, got {r:?}"
        );
    }

    #[test]
    fn policy_defaults() {
        let p = Policy::default();
        assert_eq!(p.max_bytes, 100 * 1024 * 1024);
        assert_eq!(p.timeout, Duration::from_secs(60));
        assert_eq!(p.connect_timeout, Duration::from_secs(10));
        assert_eq!(p.max_redirects, 5);
        assert!(!p.allow_private);
    }

    #[test]
    fn env_flag_values() {
        let p = Policy::default();
        for on in ["1", "true", "TRUE", "True", " 1 "] {
            assert!(p.with_allow_private_flag(Some(on)).allow_private, "{on:?}");
        }
        for off in ["", "0", "false", "yes", "2"] {
            assert!(
                !p.with_allow_private_flag(Some(off)).allow_private,
                "{off:?}"
            );
        }
        assert!(!p.with_allow_private_flag(None).allow_private);
        // The override only ever allows; it never turns allow_private off.
        let allowed = Policy {
            allow_private: true,
            ..p
        };
        assert!(allowed.with_allow_private_flag(Some("0")).allow_private);
    }

    #[test]
    fn policy_refuses() {
        let strict = Policy::default();
        let lax = Policy {
            allow_private: true,
            ..strict
        };
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert!(strict.refuses(lo));
        assert!(!lax.refuses(lo));
        assert!(lax.refuses(any));
    }

    #[test]
    fn first_url_checks() {
        assert!(parse_url("http://example.com/a?b=c", false).is_ok());
        assert!(parse_url("https://example.com:8443/", false).is_ok());
        assert!(parse_url("HTTPS://EXAMPLE.com/", false).is_ok());
        assert!(parse_url("http://8.8.8.8/", false).is_ok());
        assert!(parse_url("http://[2606:4700::1111]/", false).is_ok());
        for bad in [
            "ftp://example.com/file",
            "file:///etc/passwd",
            "gopher://example.com/",
            "data:text/plain,hi",
            "javascript:alert(1)",
            "http://user:pw@example.com/",
            "http://user@example.com/",
            "http://:pw@example.com/",
            "http://",
            "http:///",
            "not a url",
            "",
            "/relative/path",
            "http://exa mple.com/",
        ] {
            invalid(parse_url(bad, false));
            invalid(parse_url(bad, true));
        }
    }

    #[test]
    fn literal_hosts_are_checked() {
        for (u, addr) in [
            ("http://127.0.0.1/", "127.0.0.1"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
            ),
            ("http://[::1]:8080/", "::1"),
            ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
            ("http://[fe80::1]/", "fe80::1"),
            ("http://10.0.0.1/", "10.0.0.1"),
            // other spellings of IPv4 that the URL parser normalises
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://0/", "0.0.0.0"),
            ("http://169.254.169.254./", "169.254.169.254"),
        ] {
            let got = forbidden(parse_url(u, false));
            assert_eq!(got, addr.parse::<IpAddr>().unwrap(), "{u}");
        }
        assert!(parse_url("http://127.0.0.1/", true).is_ok());
        assert!(parse_url("http://[::1]/", true).is_ok());
        // Never allowed.
        for u in [
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[ff02::1]/",
            "http://[::ffff:0.0.0.0]/",
        ] {
            forbidden(parse_url(u, true));
        }
    }

    #[test]
    fn redirects_are_checked_again() {
        let from = url("https://files.example.com/dir/a?sig=1");
        let ok = next_hop(&from, "b", false).unwrap();
        assert_eq!(ok.as_str(), "https://files.example.com/dir/b");
        let ok = next_hop(&from, "/other", false).unwrap();
        assert_eq!(ok.as_str(), "https://files.example.com/other");
        let ok = next_hop(&from, "http://cdn.example.net/x", false).unwrap();
        assert_eq!(ok.as_str(), "http://cdn.example.net/x");

        // Private targets, absolute or scheme-relative.
        for loc in [
            "http://127.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "//169.254.169.254/",
            "http://[::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://2130706433/",
            "https://192.168.1.1:8443/admin",
        ] {
            forbidden(next_hop(&from, loc, false));
        }
        // With allow_private the same go through, except the never-allowed ones.
        assert!(next_hop(&from, "http://127.0.0.1/", true).is_ok());
        forbidden(next_hop(&from, "http://0.0.0.0/", true));

        // Other schemes and user info.
        for loc in [
            "ftp://files.example.com/a",
            "file:///etc/passwd",
            "gopher://127.0.0.1:6379/_INFO",
            "http://user:pw@files.example.com/",
            "http://",
        ] {
            invalid(next_hop(&from, loc, false));
        }
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("hashscan-fetch-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        for path in [&missing, &empty] {
            let err = Fetcher::with_ca_file(Policy::default(), Some(path)).unwrap_err();
            assert!(matches!(err, FetchError::Client(_)), "{err}");
            assert!(err.to_string().contains("CA file"), "{err}");
        }
        assert!(Fetcher::with_ca_file(Policy::default(), None).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn client_errors() {
        assert!(FetchError::Status(404).is_client_error());
        assert!(FetchError::Timeout.is_client_error());
        assert!(
            FetchError::Forbidden {
                host: "x".into(),
                addr: "127.0.0.1".parse().unwrap()
            }
            .is_client_error()
        );
        assert!(!FetchError::Io(std::io::Error::other("disk full")).is_client_error());
        assert!(!FetchError::Client("no TLS".into()).is_client_error());
    }
}
