//! Where clamd listens: a TCP `host:port` or a unix socket path.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::ClamdError;

/// Where clamd listens.
///
/// Parsed from a string by [`FromStr`]:
///
/// | input | address |
/// | --- | --- |
/// | `tcp://127.0.0.1:3310`, `tcp://clamd.internal:3310`, `tcp://[::1]:3310` | [`Address::Tcp`] |
/// | `127.0.0.1:3310`, `localhost:3310`, `[::1]:3310` | [`Address::Tcp`] |
/// | `unix:///run/clamav/clamd.ctl` | [`Address::Unix`] (`/run/clamav/clamd.ctl`) |
/// | `/run/clamav/clamd.ctl`, `./clamd.sock` | [`Address::Unix`] |
///
/// ```
/// use hashscan_clamd::Address;
/// let a: Address = "tcp://127.0.0.1:3310".parse().unwrap();
/// assert_eq!(a, Address::Tcp("127.0.0.1:3310".into()));
/// let u: Address = "unix:///run/clamav/clamd.ctl".parse().unwrap();
/// assert_eq!(u, Address::Unix("/run/clamav/clamd.ctl".into()));
/// assert_eq!(u.to_string(), "unix:///run/clamav/clamd.ctl");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP endpoint as `host:port` (`[v6]:port` for IPv6 literals). The host may be a
    /// name; it is resolved on every connection.
    Tcp(String),
    /// A unix-domain stream socket (clamd's `LocalSocket`).
    Unix(PathBuf),
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::Tcp(addr.to_string())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(hostport) => write!(f, "tcp://{hostport}"),
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

impl FromStr for Address {
    type Err = ClamdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &'static str| ClamdError::InvalidAddress {
            input: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(invalid("empty address"));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid("control character in address"));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            return parse_host_port(rest).map(Address::Tcp).map_err(invalid);
        }
        if let Some(rest) = s.strip_prefix("unix://") {
            if rest.is_empty() {
                return Err(invalid("empty unix socket path"));
            }
            return Ok(Address::Unix(PathBuf::from(rest)));
        }
        if s.contains("://") {
            return Err(invalid("unknown scheme (expected tcp:// or unix://)"));
        }
        if s.starts_with('/') || s.starts_with("./") || s.starts_with("../") {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        parse_host_port(s).map(Address::Tcp).map_err(invalid)
    }
}

/// Checks `host:port` and returns it unchanged.
fn parse_host_port(s: &str) -> Result<String, &'static str> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err("expected host:port (or a unix socket path starting with /)");
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port is not a number");
    }
    match port.parse::<u16>() {
        Ok(0) => return Err("port 0 is not a valid clamd port"),
        Ok(_) => {}
        Err(_) => return Err("port is out of range"),
    }
    if host.is_empty() {
        return Err("empty host");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(v6) = inner.strip_suffix(']') else {
            return Err("unterminated [ in IPv6 host");
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address in brackets");
        }
    } else if host.contains(':') {
        return Err("IPv6 addresses must be written in brackets, e.g. [::1]:3310");
    } else if host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '/' | '[' | ']' | '@'))
    {
        return Err("invalid character in host");
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Address {
        Address::Tcp(s.to_owned())
    }

    #[test]
    fn parses_the_documented_forms() {
        let cases: &[(&str, Address)] = &[
            ("tcp://127.0.0.1:3310", tcp("127.0.0.1:3310")),
            ("127.0.0.1:3310", tcp("127.0.0.1:3310")),
            ("localhost:3310", tcp("localhost:3310")),
            ("tcp://clamd.internal:65535", tcp("clamd.internal:65535")),
            ("[::1]:3310", tcp("[::1]:3310")),
            ("tcp://[::1]:3310", tcp("[::1]:3310")),
            (
                "unix:///run/clamav/clamd.ctl",
                Address::Unix("/run/clamav/clamd.ctl".into()),
            ),
            ("/path/to/socket", Address::Unix("/path/to/socket".into())),
            ("./clamd.sock", Address::Unix("./clamd.sock".into())),
            ("unix://rel.sock", Address::Unix("rel.sock".into())),
        ];
        for (input, want) in cases {
            assert_eq!(&input.parse::<Address>().unwrap(), want, "{input}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "tcp://127.0.0.1:3310",
            "tcp://[::1]:1",
            "unix:///run/x.sock",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
            assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        }
    }

    #[test]
    fn from_socket_addr() {
        let sa: SocketAddr = "127.0.0.1:3310".parse().unwrap();
        assert_eq!(Address::from(sa), tcp("127.0.0.1:3310"));
        let sa6: SocketAddr = "[::1]:3310".parse().unwrap();
        assert_eq!(Address::from(sa6), tcp("[::1]:3310"));
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "tcp://",
            "unix://",
            "http://127.0.0.1:3310",
            "127.0.0.1",
            "127.0.0.1:",
            ":3310",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:+3310",
            "127.0.0.1:33 10",
            "::1:3310",
            "[::1:3310",
            "[not-v6]:3310",
            "clamd.sock",
            "tcp://host name:3310",
            "tcp://127.0.0.1:3310/",
            "127.0.0.1:3310\n",
        ] {
            let err = bad.parse::<Address>().unwrap_err();
            assert!(
                matches!(err, ClamdError::InvalidAddress { .. }),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains("invalid clamd address"), "{err}");
        }
    }
}
