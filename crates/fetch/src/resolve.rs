//! The DNS resolver reqwest connects through: it resolves with the system resolver and
//! hands reqwest only the addresses that the policy allows, so the check applies to the
//! address actually connected to (no DNS rebinding between a check and the connection).

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::FetchError;
use crate::addr::refused;

#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub(crate) allow_private: bool,
    pub(crate) timeout: Duration,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match this.lookup(&host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // Travels through reqwest's error chain; `FetchError::from_reqwest` finds it.
                Err(e) => Err(Box::new(e) as Box<dyn Error + Send + Sync>),
            }
        })
    }
}

impl GuardedResolver {
    /// Resolves `host` and keeps the allowed addresses; `Forbidden` when none is left.
    pub(crate) async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, FetchError> {
        let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, 0)))
            .await
            .map_err(|_| FetchError::Timeout)?
            .map_err(|e| FetchError::Resolve(format!("{host}: {e}")))?;
        let mut allowed = Vec::new();
        let mut first_refused = None;
        for addr in found {
            if refused(addr.ip(), self.allow_private) {
                first_refused.get_or_insert(addr.ip());
            } else {
                allowed.push(addr);
            }
        }
        if !allowed.is_empty() {
            if let Some(addr) = first_refused {
                tracing::debug!(host, %addr, "fetch: skipping refused addresses of a name");
            }
            return Ok(allowed);
        }
        match first_refused {
            Some(addr) => {
                tracing::warn!(host, %addr, "fetch refused: name resolves to a refused address");
                Err(FetchError::Forbidden {
                    host: host.to_owned(),
                    addr,
                })
            }
            None => Err(FetchError::Resolve(format!("{host}: no address"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(allow_private: bool) -> GuardedResolver {
        GuardedResolver {
            allow_private,
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn localhost_is_refused_by_default() {
        let err = resolver(false).lookup("localhost").await.unwrap_err();
        match err {
            FetchError::Forbidden { host, addr } => {
                assert_eq!(host, "localhost");
                assert!(addr.is_loopback(), "{addr}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn localhost_is_allowed_with_allow_private() {
        let addrs = resolver(true).lookup("localhost").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn ip_literals_given_as_names_are_checked_too() {
        for host in ["127.0.0.1", "::1", "169.254.169.254", "0.0.0.0"] {
            let err = resolver(false).lookup(host).await.unwrap_err();
            assert!(
                matches!(err, FetchError::Forbidden { .. }),
                "{host}: {err:?}"
            );
        }
        let err = resolver(true).lookup("0.0.0.0").await.unwrap_err();
        assert!(matches!(err, FetchError::Forbidden { .. }), "{err:?}");
    }
}
