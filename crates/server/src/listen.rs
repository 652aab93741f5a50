//! The accept loop: how connections are taken, bounded in number and time, and ended.
//!
//! - At most [`HttpConfig::max_connections`] connections are open at once (further clients
//!   wait in the kernel's backlog), and never more than half the process's file-descriptor
//!   limit, so the database, blobs and workers always have descriptors left.
//! - A request head must arrive within [`HttpConfig::header_read_timeout_secs`] of the
//!   connection opening or the previous response ending: half-sent requests and idle
//!   keep-alive connections are closed.
//! - A request body that sends nothing for [`HttpConfig::body_idle_timeout_secs`] fails
//!   (the handler sees a body error; an upload is discarded, never stored in part).
//! - On shutdown the listener closes, open connections finish their request in flight and
//!   close; whatever is still open after [`HttpConfig::shutdown_grace_secs`] is dropped.
//!
//! Every connection is wrapped in [`CaseIo`](crate::wire_case::CaseIo) (response header
//! names in the case COS sends them).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower_http::timeout::RequestBodyTimeout;

use crate::wire_case::CaseIo;

/// Connection limits and timeouts, and TLS (`[http]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// PEM certificate chain and private key: with both set the port speaks https only.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// Most connections open at once (also bounded by half the file-descriptor limit).
    pub max_connections: usize,
    /// Time for a request head to arrive, from the connection's start or the end of the
    /// previous response (so also the longest idle keep-alive), in seconds.
    pub header_read_timeout_secs: u64,
    /// Longest wait for the next piece of a request body, in seconds.
    pub body_idle_timeout_secs: u64,
    /// How long connections may finish their requests after shutdown begins, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            tls_cert: None,
            tls_key: None,
            max_connections: 1024,
            header_read_timeout_secs: 20,
            body_idle_timeout_secs: 60,
            shutdown_grace_secs: 10,
        }
    }
}

impl HttpConfig {
    /// The connection limit in effect: the configured one, at most half of `fd_limit` (the
    /// soft `RLIMIT_NOFILE`, when known), at least 16.
    pub fn effective_max_connections(&self, fd_limit: Option<u64>) -> usize {
        let by_fds = fd_limit.map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX));
        self.max_connections.min(by_fds).max(16)
    }
}

/// The soft limit of open file descriptors of this process.
/// The TLS acceptor of `[http] tls_cert`/`tls_key` (`None` when neither is set): the
/// certificate chain and key read and checked now, so that a bad file stops the start.
pub fn tls_acceptor(config: &HttpConfig) -> io::Result<Option<tokio_rustls::TlsAcceptor>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "[http] tls_cert and tls_key must be given together",
            ));
        }
    };
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read the TLS {what} {}: {e}", path.display()),
        )
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("certificate", cert, &"no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("configuration", cert, &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| bad("certificate and key", cert, &e))?;
    let mut server = server;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))))
}

fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Serves `app` on `listener` until `shutdown` completes, then ends as the module says.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    config: &HttpConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = config.effective_max_connections(fd_limit());
    let header_read = Duration::from_secs(config.header_read_timeout_secs.max(1));
    let body_idle = Duration::from_secs(config.body_idle_timeout_secs.max(1));
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    tracing::debug!(max_connections = max, "accepting connections");

    let permits = Arc::new(Semaphore::new(max));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or memory, or a connection reset before it was
                    // taken: none of it ends the server.
                    tracing::warn!(error = %e, "accept failed");
                    if !is_connection_error(&e) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(RequestBodyTimeout::new(app.clone(), body_idle));
        let builder = {
            let mut b = http1::Builder::new();
            b.timer(TokioTimer::new()).header_read_timeout(header_read);
            b
        };
        match &tls {
            None => {
                let io = TokioIo::new(CaseIo::new(stream));
                let watched = graceful.watch(builder.serve_connection(io, service));
                connections.spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's task, bounded like a request head.
                let (acceptor, watcher) = (acceptor.clone(), graceful.watcher());
                connections.spawn(async move {
                    let tls = match tokio::time::timeout(header_read, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    };
                    let io = TokioIo::new(CaseIo::new(tls));
                    if let Err(e) = watcher.watch(builder.serve_connection(io, service)).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            grace_secs = grace.as_secs(),
            "connections still open after the shutdown grace period are dropped"
        );
    }
    connections.shutdown().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_leaves_descriptors_for_the_rest() {
        let c = HttpConfig::default();
        assert_eq!(c.effective_max_connections(None), 1024);
        assert_eq!(c.effective_max_connections(Some(200)), 100);
        assert_eq!(c.effective_max_connections(Some(1 << 20)), 1024);
        assert_eq!(c.effective_max_connections(Some(10)), 16);
    }
}
