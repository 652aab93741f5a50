//! This node among the others: its id, its heartbeat, and what it learns from the
//! heartbeats of all — how many nodes share each access key's rate limit, and whether its
//! rules are the active ones (a node whose rules differ reports not ready and claims no
//! detection, so no result is made with rules other than the ones the others use).
//!
//! With the embedded store there is one node and every answer is trivially "yes"; with a
//! shared store ([`crate::meta::shared::SharedState`] on PostgreSQL) the heartbeat runs
//! every [`BEAT_EVERY`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::meta::shared::{Heartbeat, SharedState};

/// How often a node beats.
pub const BEAT_EVERY: Duration = Duration::from_secs(2);
/// A node not heard from for this long is gone (its share of the rate limits goes to the
/// others).
pub const LIVE_MS: i64 = 10_000;

/// What this node knows of the cluster.
pub struct Node {
    /// `<host>-<pid>-<boot nonce>`: unique even when a pid is reused on the same host.
    pub id: String,
    rules_current: AtomicBool,
    nodes: AtomicU32,
    /// The ruleset version last reported (to tell a reload from the heartbeat).
    reported: std::sync::Mutex<Option<String>>,
    /// Called with the number of live nodes when it changes (the rate limiter's share).
    on_nodes: Box<dyn Fn(u32) + Send + Sync>,
}

impl Node {
    /// A node with a fresh id, alone until its first heartbeat says otherwise.
    pub fn new(on_nodes: impl Fn(u32) + Send + Sync + 'static) -> Arc<Node> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        Arc::new(Node {
            id: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                nonce.get(..8).unwrap_or(&nonce)
            ),
            rules_current: AtomicBool::new(true),
            nodes: AtomicU32::new(1),
            reported: std::sync::Mutex::new(None),
            on_nodes: Box::new(on_nodes),
        })
    }

    /// Whether this node's rules are the active ones (it may make detections).
    pub fn rules_current(&self) -> bool {
        self.rules_current.load(Ordering::Relaxed)
    }

    /// Live nodes at the last heartbeat (at least 1).
    pub fn nodes(&self) -> u32 {
        self.nodes.load(Ordering::Relaxed).max(1)
    }

    /// Beats once with `ruleset`, this node's ruleset version now.
    pub async fn beat(&self, shared: &dyn SharedState, ruleset: &str) -> Result<(), String> {
        let loaded = {
            let reported = self
                .reported
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            reported.as_deref() != Some(ruleset)
        };
        let cluster = shared
            .heartbeat(&Heartbeat {
                node: self.id.clone(),
                ruleset: ruleset.to_string(),
                rules_loaded: loaded,
                live_ms: LIVE_MS,
            })
            .await
            .map_err(|e| e.to_string())?;
        *self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ruleset.to_string());
        let current = cluster.active_ruleset == ruleset;
        if self.rules_current.swap(current, Ordering::Relaxed) != current {
            if current {
                tracing::info!(ruleset, "this node's rules are the active ones again");
            } else {
                tracing::warn!(
                    ruleset,
                    active = %cluster.active_ruleset,
                    "this node's rules differ from the active ones: not ready, no detections claimed"
                );
            }
        }
        if self.nodes.swap(cluster.nodes, Ordering::Relaxed) != cluster.nodes {
            (self.on_nodes)(cluster.nodes);
        }
        Ok(())
    }

    /// Beats every [`BEAT_EVERY`] until `stop` changes, then leaves the cluster.
    pub fn spawn(
        self: &Arc<Self>,
        shared: Arc<dyn SharedState>,
        ruleset: impl Fn() -> String + Send + 'static,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = node.beat(shared.as_ref(), &ruleset()).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
                tokio::select! {
                    () = tokio::time::sleep(BEAT_EVERY) => {}
                    _ = stop.changed() => break,
                }
            }
            if let Err(e) = shared.leave(&node.id).await {
                tracing::warn!(error = %e, "cannot leave the cluster");
            }
        })
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::meta::shared::LocalShared;

    #[test]
    fn ids_are_unique_per_start() {
        let (a, b) = (Node::new(|_| {}), Node::new(|_| {}));
        assert_ne!(a.id, b.id);
        assert!(a.id.contains(&format!("-{}-", std::process::id())));
    }

    #[tokio::test]
    async fn one_embedded_node_is_always_current() {
        let node = Node::new(|_| {});
        node.beat(&LocalShared::default(), "v1").await.unwrap();
        assert!(node.rules_current());
        assert_eq!(node.nodes(), 1);
    }

    #[tokio::test]
    async fn nodes_on_postgres_agree_on_the_active_rules_and_their_number() {
        let Some(pool) = crate::meta::postgres::testdb::pool().await else {
            return;
        };
        let shared = crate::meta::postgres::shared::PgShared::new(pool);
        let seen = Arc::new(AtomicU32::new(0));
        let s = seen.clone();
        let a = Node::new(move |n| s.store(n, Ordering::Relaxed));
        let b = Node::new(|_| {});
        a.beat(&shared, "v1").await.unwrap();
        b.beat(&shared, "v1").await.unwrap();
        a.beat(&shared, "v1").await.unwrap();
        assert_eq!((a.nodes(), seen.load(Ordering::Relaxed)), (2, 2));
        assert!(a.rules_current() && b.rules_current());
        // b reloads other rules: they become active; a is no longer current until it
        // loads them too.
        b.beat(&shared, "v2").await.unwrap();
        a.beat(&shared, "v1").await.unwrap();
        assert!(!a.rules_current());
        assert!(b.rules_current());
        a.beat(&shared, "v2").await.unwrap();
        assert!(a.rules_current());
    }
}
