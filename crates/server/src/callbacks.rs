//! Job-finished callbacks, delivered durably.
//!
//! The delivery is written in the same transaction that ends the job (see
//! [`JobStore::finish`]), so it survives any crash. Deliverers claim due deliveries with a
//! lease, POST the body the job's dialect renders, and record the attempt: a 2xx answer ends
//! it; anything else (refused connection, timeout, non-2xx) schedules a retry with
//! exponential backoff until the retry period is over, when the delivery is given up and
//! logged. Every attempt carries the same `x-hashscan-delivery-id` header, so receivers can
//! de-duplicate. Deliverers run apart from the job workers: a receiver that never answers
//! holds one deliverer for at most the request timeout and never stalls hashing.
//!
//! Destinations are user-given URLs: private, loopback and link-local addresses are refused
//! unless configuration allows them, and the address checked is the address connected to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::jobs::{Delivery, DeliveryOutcome, Job, JobStore};

/// Callback settings (`[callbacks]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackConfig {
    /// Allow destinations on private, loopback and link-local addresses (also set by
    /// `HASHSCAN_FETCH_ALLOW_PRIVATE=1`).
    pub allow_private: bool,
    /// Time allowed for one attempt.
    pub timeout_ms: u64,
    /// Delay before the first retry; doubled after each failure.
    pub initial_backoff_ms: u64,
    /// Longest delay between two attempts.
    pub max_backoff_ms: u64,
    /// How long after the job ended a delivery is retried before it is given up.
    pub give_up_after_secs: u64,
    /// Concurrent deliveries.
    pub deliverers: usize,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            allow_private: false,
            timeout_ms: 10_000,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            give_up_after_secs: 24 * 3600,
            deliverers: 4,
        }
    }
}

/// Renders the callback body of a job in a format (`XML`/`JSON`): content type and bytes.
pub type Render = Arc<dyn Fn(&Job, &str) -> (&'static str, Vec<u8>) + Send + Sync>;

/// How long a deliverer holds a claimed delivery.
const LEASE_MS: i64 = 60_000;
const IDLE_POLL: Duration = Duration::from_millis(250);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Starts the deliverers; they stop when `stop` turns true.
pub fn spawn_deliverers(
    config: CallbackConfig,
    node: &str,
    jobs: Arc<dyn JobStore>,
    render: Render,
    metrics: Arc<crate::metrics::Metrics>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..config.deliverers.max(1))
        .map(|i| {
            let owner = format!("{node}/cb{i}");
            let (config, jobs, render, metrics, mut stop) = (
                config.clone(),
                jobs.clone(),
                render.clone(),
                metrics.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !*stop.borrow() {
                    match jobs.claim_delivery(&owner, now_ms(), LEASE_MS).await {
                        Ok(Some(d)) => {
                            let outcome = attempt(&config, jobs.as_ref(), &render, &d).await;
                            log_outcome(&d, &outcome);
                            metrics.delivery(&outcome);
                            if let Err(e) = jobs.delivery_attempted(&d.id, &owner, now_ms(), outcome).await {
                                tracing::warn!(delivery = %d.id, error = %e, "cannot record a callback attempt");
                            }
                        }
                        Ok(None) => {
                            tokio::select! {
                                () = tokio::time::sleep(IDLE_POLL) => {}
                                _ = stop.changed() => {}
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot claim callbacks");
                            tokio::time::sleep(IDLE_POLL).await;
                        }
                    }
                }
            })
        })
        .collect()
}

fn log_outcome(d: &Delivery, outcome: &DeliveryOutcome) {
    match outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(delivery = %d.id, job = %d.job_id, attempt = d.attempts + 1, "callback delivered");
        }
        DeliveryOutcome::Retry { error, .. } => {
            tracing::info!(delivery = %d.id, job = %d.job_id, attempt = d.attempts + 1, %error, "callback failed; will retry");
        }
        DeliveryOutcome::GiveUp { error } => {
            tracing::warn!(delivery = %d.id, job = %d.job_id, attempts = d.attempts + 1, %error, "callback given up");
        }
    }
}

/// One attempt, and what to do next.
async fn attempt(
    config: &CallbackConfig,
    jobs: &dyn JobStore,
    render: &Render,
    d: &Delivery,
) -> DeliveryOutcome {
    let failure = match try_once(config, jobs, render, d).await {
        Ok(()) => return DeliveryOutcome::Delivered,
        Err(Failure::Permanent(error)) => return DeliveryOutcome::GiveUp { error },
        Err(Failure::Transient(error)) => error,
    };
    let now = now_ms();
    let exp = d.attempts.min(30);
    let backoff = config
        .initial_backoff_ms
        .saturating_mul(1u64 << exp)
        .min(config.max_backoff_ms) as i64;
    let deadline = d.created_at + (config.give_up_after_secs as i64).saturating_mul(1000);
    if now + backoff > deadline {
        DeliveryOutcome::GiveUp { error: failure }
    } else {
        DeliveryOutcome::Retry {
            error: failure,
            at: now + backoff,
        }
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}

async fn try_once(
    config: &CallbackConfig,
    jobs: &dyn JobStore,
    render: &Render,
    d: &Delivery,
) -> Result<(), Failure> {
    let job = jobs
        .get(std::slice::from_ref(&d.job_id))
        .await
        .map_err(|e| Failure::Transient(format!("cannot read the job: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::Permanent("the job no longer exists".into()))?;
    let url =
        reqwest::Url::parse(&d.url).map_err(|e| Failure::Permanent(format!("invalid URL: {e}")))?;
    if url.scheme() != "http" {
        return Err(Failure::Permanent(format!(
            "{} callbacks are not supported: use an http:// URL",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Failure::Permanent("the URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Failure::Transient(format!("cannot resolve {host}: {e}")))?
        .collect();
    let addr = addrs
        .iter()
        .copied()
        .find(|a| config.allow_private || is_public(a.ip()))
        .ok_or_else(|| {
            Failure::Permanent(format!(
                "{host} resolves only to private, loopback or link-local addresses, which are not allowed"
            ))
        })?;
    // Connect to the address that was checked, not to a second lookup's answer.
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hashscan/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let (content_type, body) = render(&job, &d.format);
    let response = client
        .post(url)
        .header("content-type", content_type)
        .header("x-hashscan-delivery-id", &d.id)
        .header("x-hashscan-attempt", (d.attempts + 1).to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("request failed: {e}")))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Failure::Transient(format!(
            "the receiver answered {}",
            response.status()
        )))
    }
}

/// Whether an address is reachable on the public internet (not loopback, private,
/// link-local, unique-local, CGNAT, unspecified, multicast or broadcast).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
