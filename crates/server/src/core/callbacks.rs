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
//! Destinations are user-given URLs. They are reached through the server's one outbound
//! client, [`hashscan_fetch::Fetcher::post`], under the same address policy as downloads
//! of user-given URLs: private, loopback, link-local and other non-public addresses (in
//! every IPv6 spelling that carries one) are refused unless `[outbound] allow_private` (or
//! `HASHSCAN_FETCH_ALLOW_PRIVATE=1`) allows them; the address checked is the address
//! connected to; proxies from the environment are not used; redirects are not followed (a
//! 3xx answer is a failed attempt). A destination the policy refuses is given up at once:
//! it would be refused on every retry.

use std::sync::Arc;
use std::time::Duration;

use hashscan_fetch::{FetchError, Fetcher, Post};

use crate::config::CallbackConfig;
use crate::meta::jobs::{Delivery, DeliveryOutcome, Job, JobStore};

/// Renders the callback body of a job in a format (`XML`/`JSON`): content type and bytes.
pub type Render = Arc<dyn Fn(&Job, &str) -> (&'static str, Vec<u8>) + Send + Sync>;

/// How long a deliverer holds a claimed delivery.
const LEASE_MS: i64 = 60_000;
/// How long an idle deliverer waits before it looks for due deliveries again (the
/// embedded store; a shared store's nodes wait [`SHARED_IDLE_POLL`] so that idle nodes do
/// not hammer the database: a callback then leaves at most that much later).
pub const IDLE_POLL: Duration = Duration::from_millis(250);
pub const SHARED_IDLE_POLL: Duration = Duration::from_secs(2);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a node's deliverers share.
pub struct Deliverers {
    pub config: CallbackConfig,
    /// The server's one outbound client, whose policy decides which destinations are
    /// allowed.
    pub outbound: Fetcher,
    /// This node's id; a deliverer's lease owner is `<node>/cb<n>`.
    pub node: String,
    pub jobs: Arc<dyn JobStore>,
    pub render: Render,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How long an idle deliverer waits ([`IDLE_POLL`], [`SHARED_IDLE_POLL`]).
    pub idle_poll: Duration,
}

/// Starts the deliverers, which POST through `outbound`; they stop when `stop` turns true.
pub fn spawn_deliverers(
    d: Deliverers,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let Deliverers {
        config,
        outbound,
        node,
        jobs,
        render,
        metrics,
        idle_poll,
    } = d;
    (0..config.deliverers.max(1))
        .map(|i| {
            let owner = format!("{node}/cb{i}");
            let (config, outbound, jobs, render, metrics, mut stop) = (
                config.clone(),
                outbound.clone(),
                jobs.clone(),
                render.clone(),
                metrics.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !*stop.borrow() {
                    match jobs.claim_delivery(&owner, now_ms(), LEASE_MS).await {
                        Ok(Some(d)) => {
                            let outcome = attempt(&config, &outbound, jobs.as_ref(), &render, &d).await;
                            log_outcome(&d, &outcome);
                            metrics.delivery(&outcome);
                            if let Err(e) = jobs.delivery_attempted(&d.id, &owner, now_ms(), outcome).await {
                                tracing::warn!(delivery = %d.id, error = %e, "cannot record a callback attempt");
                            }
                        }
                        Ok(None) => {
                            tokio::select! {
                                () = tokio::time::sleep(idle_poll) => {}
                                _ = stop.changed() => {}
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot claim callbacks");
                            tokio::time::sleep(idle_poll).await;
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
    outbound: &Fetcher,
    jobs: &dyn JobStore,
    render: &Render,
    d: &Delivery,
) -> DeliveryOutcome {
    let failure = match try_once(config, outbound, jobs, render, d).await {
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
    outbound: &Fetcher,
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
    // https is verified against the system's roots and `[outbound] ca_file` (the one
    // outbound client's trust); nothing else is a callback.
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::Permanent(format!(
            "{} callbacks are not supported: use an http:// or https:// URL",
            url.scheme()
        )));
    }
    let (content_type, body) = render(&job, &d.format);
    let request = Post {
        content_type: content_type.to_string(),
        headers: vec![
            ("x-hashscan-delivery-id".into(), d.id.clone()),
            ("x-hashscan-attempt".into(), (d.attempts + 1).to_string()),
            (
                "user-agent".into(),
                concat!("hashscan/", env!("CARGO_PKG_VERSION")).into(),
            ),
        ],
        body,
        timeout: Duration::from_millis(config.timeout_ms.max(1)),
    };
    let answer = outbound
        .post(url.as_str(), request)
        .await
        .map_err(failure)?;
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(Failure::Transient(format!(
            "the receiver answered {}",
            answer.status
        )))
    }
}

/// A failed request: permanent when no retry can succeed under the policy (a malformed
/// URL, a refused address). The message names the host at most, never the path or query.
fn failure(e: FetchError) -> Failure {
    if e.is_permanent() {
        Failure::Permanent(e.to_string())
    } else {
        Failure::Transient(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_malformed_destinations_are_permanent() {
        let forbidden = FetchError::Forbidden {
            host: "[::ffff:127.0.0.1]".into(),
            addr: "::ffff:127.0.0.1".parse().unwrap(),
        };
        assert!(matches!(failure(forbidden), Failure::Permanent(m) if m.contains("refused")));
        assert!(matches!(
            failure(FetchError::InvalidUrl("no host".into())),
            Failure::Permanent(_)
        ));
        for transient in [
            FetchError::Timeout,
            FetchError::Resolve("example.invalid: no address".into()),
            FetchError::Connect("connection refused".into()),
            FetchError::Transfer("reset".into()),
        ] {
            assert!(matches!(failure(transient), Failure::Transient(_)));
        }
    }
}
