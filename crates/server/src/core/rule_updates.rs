//! Rule and intelligence updates on a schedule, as freshclam runs beside clamd.
//!
//! The work is `hashscan-updates`' (fetch through the safe fetcher, verify, check, install
//! a new version of the rule store in `<data-dir>/rules`); here it is only run: once at
//! start, then every `[rules] interval_secs`. The detector follows the store's `current`
//! pointer on its own (its rule watch sees the pointer change and reloads rules and hash
//! lists), whether the new version came from this schedule, from `hashscan rules update`
//! or from `hashscan rules rollback`.

use std::time::Duration;

use hashscan_detect::RuleStore;
use hashscan_updates::{Outbound, UpdateError, Updater};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// The rule store of a data directory.
pub fn store(config: &Config) -> RuleStore {
    RuleStore::new(config.data_dir.join("rules"))
}

/// The updater the configuration describes (its sources checked: a source without a
/// `sha256` pin or a `minisign_key` is an error), with the server's outbound settings and
/// `[detect] clamd` as the clamd to reload after its databases changed.
pub fn updater(config: &Config) -> Result<Updater, UpdateError> {
    let clamd = match &config.detect.clamd {
        None => None,
        Some(a) => Some(hashscan_clamd::Clamd::new(a.parse().map_err(
            |e: hashscan_clamd::ClamdError| UpdateError::Config(format!("detect.clamd: {e}")),
        )?)),
    };
    let outbound = Outbound {
        allow_private: hashscan_fetch::Policy {
            allow_private: config.outbound_allow_private(),
            ..hashscan_fetch::Policy::default()
        }
        .with_env_override()
        .allow_private,
        ca_file: config.outbound.ca_file.clone(),
    };
    Ok(Updater::new(config.rules.clone(), store(config), &outbound)?.with_clamd(clamd))
}

/// Starts the schedule when there are sources and an interval; it ends when `stop` turns
/// true.
pub fn spawn(config: &Config, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if config.rules.sources.is_empty() || config.rules.interval_secs == 0 {
        return None;
    }
    let updater = match updater(config) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "rule updates not scheduled");
            return None;
        }
    };
    let every = Duration::from_secs(config.rules.interval_secs);
    Some(tokio::spawn(async move {
        loop {
            // A shutdown does not wait for downloads (they may take minutes); what was
            // fetched is left in staging and removed by the next update.
            tokio::select! {
                () = run_once(&updater) => {}
                _ = stop.changed() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }))
}

/// One scheduled update, logged.
async fn run_once(updater: &Updater) {
    match updater.update().await {
        Ok(report) => {
            for s in &report.sources {
                if let hashscan_updates::Outcome::Failed { error, kept } = &s.outcome {
                    tracing::warn!(source = %s.name, %error, kept_previous = kept, "rule update: source not taken");
                }
            }
            if let Some(why) = &report.skipped {
                tracing::warn!(reason = %why, "rule update not activated");
            }
            match &report.activated {
                Some(m) => {
                    tracing::info!(version = %m.id, previous = ?m.previous, "rule update activated")
                }
                None => {
                    tracing::info!(current = ?report.current, "rules up to date")
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "rule update failed; the current rules stay"),
    }
}
